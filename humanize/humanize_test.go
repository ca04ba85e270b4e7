package humanize

import "testing"

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1865: "1,865", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 146900: "146.9 kB", 92_000_000: "92.0 MB", 3_500_000_000: "3.5 GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestCount(t *testing.T) {
	if got := Count(1, "row"); got != "1 row" {
		t.Error(got)
	}
	if got := Count(5432, "row"); got != "5,432 rows" {
		t.Error(got)
	}
	if got := Count(0, "row"); got != "0 rows" {
		t.Error(got)
	}
}
