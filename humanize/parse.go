package humanize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseBytes reads a size as users write it in configuration: "100MB", "512 KB", "1.5GB",
// "2GiB" or a bare number of bytes. KB, MB and GB are decimal (1 MB = 1,000,000 bytes), as
// Bytes prints them; KiB, MiB and GiB are binary.
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := float64(1)
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) || n*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size; write it like 100MB, 512KB or 2GB", s)
	}
	return int64(n * mult), nil
}
