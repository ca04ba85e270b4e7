package dbtdeps

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// matcher is a version specifier's comparison: "", ">", ">=", "<", "<=" ("" and "=" are exact).
type version struct {
	matcher             string
	major, minor, patch int
	prerelease, build   string
	unbounded           bool
}

var versionRE = regexp.MustCompile(`^(>=|>|<=|<|=)?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-?((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9A-Za-z-]*(?:\.[0-9A-Za-z-]*)*))?$`)

// parseVersion reads a version specifier such as ">=1.0.0", "1.3.0" or "0.9.0-b1".
func parseVersion(s string) (version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("%q is not a valid semantic version", s)
	}
	v := version{matcher: m[1], prerelease: m[5], build: m[6]}
	if v.matcher == "" {
		v.matcher = "="
	}
	v.major, _ = strconv.Atoi(m[2])
	v.minor, _ = strconv.Atoi(m[3])
	v.patch, _ = strconv.Atoi(m[4])
	return v, nil
}

func (v version) String() string {
	if v.unbounded {
		return "*"
	}
	return v.matcher + v.plain()
}

// plain is the version without its matcher.
func (v version) plain() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if v.prerelease != "" {
		s += "-" + v.prerelease
	}
	if v.build != "" {
		s += "+" + v.build
	}
	return s
}

func (v version) exact() bool { return !v.unbounded && v.matcher == "=" }
func (v version) lower() bool { return !v.unbounded && (v.matcher == ">" || v.matcher == ">=") }
func (v version) upper() bool { return !v.unbounded && (v.matcher == "<" || v.matcher == "<=") }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare orders two specifiers the way dbt's semver does, matchers included: at equal numbers
// a ">=" and a "<=" are equal, "<" sorts below "<=", ">" above ">=", an upper bound below a lower.
func (v version) compare(o version) int {
	if v.unbounded || o.unbounded {
		return 0
	}
	for _, c := range []int{cmpInt(v.major, o.major), cmpInt(v.minor, o.minor), cmpInt(v.patch, o.patch)} {
		if c != 0 {
			return c
		}
	}
	switch {
	case v.prerelease == "" && o.prerelease == "":
	case v.prerelease == "":
		if v.matcher == "<" {
			// a maximum below x.y.z keeps out x.y.z's pre-releases
			return -1
		}
		return 1
	case o.prerelease == "":
		return -1
	default:
		if c := natCmp(v.prerelease, o.prerelease); c != 0 {
			return c
		}
	}
	if (v.matcher == ">=" && o.matcher == "<=") || (v.matcher == "<=" && o.matcher == ">=") {
		return 0
	}
	if (v.matcher == "<" && o.matcher == "<=") || (o.matcher == ">" && v.matcher == ">=") || (v.upper() && o.lower()) {
		return -1
	}
	if (o.matcher == "<" && v.matcher == "<=") || (v.matcher == ">" && o.matcher == ">=") || (v.lower() && o.upper()) {
		return 1
	}
	return 0
}

var digitsRE = regexp.MustCompile(`^\d+$`)

// natCmp compares pre-release tags part by part: numbers numerically and below words.
func natCmp(a, b string) int {
	ap, bp := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(ap) && i < len(bp); i++ {
		an, bn := digitsRE.MatchString(ap[i]), digitsRE.MatchString(bp[i])
		var c int
		switch {
		case an && bn:
			x, _ := strconv.Atoi(ap[i])
			y, _ := strconv.Atoi(bp[i])
			c = cmpInt(x, y)
		case an:
			c = -1
		case bn:
			c = 1
		default:
			c = strings.Compare(ap[i], bp[i])
		}
		if c != 0 {
			return c
		}
	}
	// dbt compares the lengths of the whole strings here
	return cmpInt(len(a), len(b))
}

type versionRange struct{ start, end version }

var unbounded = version{unbounded: true, matcher: "="}

func (v version) toRange() versionRange {
	r := versionRange{unbounded, unbounded}
	switch {
	case v.exact():
		r.start, r.end = v, v
	case v.lower():
		r.start = v
	case v.upper():
		r.end = v
	}
	return r
}

func (r versionRange) String() string {
	if r.start.unbounded && r.end.unbounded {
		return "ANY"
	}
	var parts []string
	if !r.start.unbounded {
		parts = append(parts, r.start.String())
	}
	if !r.end.unbounded {
		parts = append(parts, r.end.String())
	}
	return strings.Join(parts, ", ")
}

var errIncompatible = fmt.Errorf("versions not compatible")

func combineLower(a, b version) (version, error) {
	switch {
	case b.unbounded:
		return a, nil
	case a.unbounded:
		return b, nil
	case !a.exact() && !b.exact():
		if a.compare(b) < 0 {
			return b, nil
		}
		return a, nil
	case a.exact():
		a, b = b, a
	}
	// a is the lower bound, b the exact version
	if c := a.compare(b); c < 0 || (c == 0 && a.matcher == ">=") {
		return b, nil
	}
	return version{}, errIncompatible
}

func combineUpper(a, b version) (version, error) {
	switch {
	case b.unbounded:
		return a, nil
	case a.unbounded:
		return b, nil
	case !a.exact() && !b.exact():
		if a.compare(b) > 0 {
			return b, nil
		}
		return a, nil
	case a.exact():
		a, b = b, a
	}
	if c := a.compare(b); c > 0 || (c == 0 && a.matcher == "<=") {
		return b, nil
	}
	return version{}, errIncompatible
}

func (r versionRange) reduce(o versionRange) (versionRange, error) {
	var out versionRange
	if r.start.exact() && o.start.exact() {
		if r.start.compare(o.start) != 0 {
			return out, errIncompatible
		}
		out = versionRange{r.start, r.start}
	} else {
		var err error
		if out.start, err = combineLower(r.start, o.start); err != nil {
			return out, err
		}
		if out.end, err = combineUpper(r.end, o.end); err != nil {
			return out, err
		}
	}
	if out.start.compare(out.end) > 0 {
		return out, errIncompatible
	}
	return out, nil
}

// reduceVersions intersects specifiers into one range, as dbt combines every requirement on a
// hub package (from packages.yml and from other packages' packages.yml).
func reduceVersions(specs []version) (versionRange, error) {
	var vs []version
	for _, v := range specs {
		if !v.unbounded {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return versionRange{unbounded, unbounded}, nil
	}
	// dbt pops the last specifier and folds the others into it
	r := vs[len(vs)-1].toRange()
	for _, v := range vs[:len(vs)-1] {
		var err error
		if r, err = r.reduce(v.toRange()); err != nil {
			names := make([]string, len(specs))
			for i, s := range specs {
				names[i] = "'" + s.String() + "'"
			}
			return r, fmt.Errorf("Could not find a satisfactory version from options: [%s]", strings.Join(names, ", "))
		}
	}
	return r, nil
}

func compatible(vs ...version) bool {
	if len(vs) == 1 {
		return true
	}
	_, err := reduceVersions(vs)
	return err == nil
}

// resolveVersion picks the highest available version inside the range ("" when none is).
func resolveVersion(r versionRange, available []string) string {
	var best *version
	var bestStr string
	for _, s := range available {
		v, err := parseVersion(s)
		if err != nil {
			continue
		}
		if compatible(v, r.start, r.end) && (best == nil || best.compare(v) < 0) {
			vv := v
			best, bestStr = &vv, s
		}
	}
	return bestStr
}

// installable keeps the versions that may be installed (pre-releases only when asked for),
// sorted ascending.
func installable(versions []string, prerelease bool) []string {
	type pair struct {
		v version
		s string
	}
	var out []pair
	for _, s := range versions {
		v, err := parseVersion(s)
		if err != nil {
			continue
		}
		if prerelease || v.prerelease == "" {
			out = append(out, pair{v, s})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].v.compare(out[j].v) < 0 })
	strs := make([]string, len(out))
	for i, p := range out {
		strs[i] = p.s
	}
	return strs
}
