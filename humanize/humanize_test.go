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

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"100MB": 100e6, "512 kb": 512e3, "1.5GB": 1.5e9, "2GiB": 2 << 30, "3MiB": 3 << 20, "4096": 4096, "10M": 10e6, "7b": 7} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-5MB", "0", "1e30GB", "MB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}
