package transform

// Python str and list methods with Python's semantics where gonja's differ or are missing
// (str.replace with two arguments, split with maxsplit, startswith with a tuple; list
// extend/insert/pop/remove/index/count/sort).

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

func pyMethods(m *exec.Methods) {
	m.Str = m.Str.With(map[string]exec.Method[string]{
		"replace": strReplace,
		"split":   func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) { return strSplit(s, va, false) },
		"rsplit":  func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) { return strSplit(s, va, true) },
		"startswith": func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) {
			return strAffix(s, va, strings.HasPrefix)
		},
		"endswith": func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) {
			return strAffix(s, va, strings.HasSuffix)
		},
		"index": func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) { return strIndex(s, va, false) },
		"count": func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) {
			if len(va.Args) != 1 {
				return nil, fmt.Errorf("str.count takes one argument here (start/end are not supported)")
			}
			return strings.Count(s, va.Args[0].String()), nil
		},
		"rindex": func(s string, _ *exec.Value, va *exec.VarArgs) (any, error) { return strIndex(s, va, true) },
	})
	m.List = m.List.With(map[string]exec.Method[[]any]{
		"append": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			if len(va.Args) != 1 {
				return nil, fmt.Errorf("list.append() takes exactly one argument (%d given)", len(va.Args))
			}
			return nil, setList(self, append(listItems(self), va.Args[0]))
		},
		"extend": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			if len(va.Args) != 1 {
				return nil, fmt.Errorf("list.extend() takes exactly one argument (%d given)", len(va.Args))
			}
			return nil, setList(self, append(listItems(self), listItems(va.Args[0])...))
		},
		"insert": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			if len(va.Args) != 2 {
				return nil, fmt.Errorf("list.insert() expected 2 arguments, got %d", len(va.Args))
			}
			items := listItems(self)
			i := pyIndex(va.Args[0].Integer(), len(items), true)
			items = append(items[:i], append([]*exec.Value{va.Args[1]}, items[i:]...)...)
			return nil, setList(self, items)
		},
		"pop": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			items := listItems(self)
			if len(items) == 0 {
				return nil, fmt.Errorf("IndexError: pop from empty list")
			}
			i := len(items) - 1
			if len(va.Args) > 0 {
				n := va.Args[0].Integer()
				if n < 0 {
					n += len(items)
				}
				if n < 0 || n >= len(items) {
					return nil, fmt.Errorf("IndexError: pop index out of range")
				}
				i = n
			}
			v := items[i].Interface() // a *exec.Value result would read as an error
			return v, setList(self, append(items[:i:i], items[i+1:]...))
		},
		"remove": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			items := listItems(self)
			for i, it := range items {
				if len(va.Args) == 1 && it.EqualValueTo(va.Args[0]) {
					return nil, setList(self, append(items[:i:i], items[i+1:]...))
				}
			}
			return nil, fmt.Errorf("ValueError: list.remove(x): x not in list")
		},
		"index": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			for i, it := range listItems(self) {
				if len(va.Args) >= 1 && it.EqualValueTo(va.Args[0]) {
					return i, nil
				}
			}
			return nil, fmt.Errorf("ValueError: value is not in list")
		},
		"count": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			n := 0
			for _, it := range listItems(self) {
				if len(va.Args) == 1 && it.EqualValueTo(va.Args[0]) {
					n++
				}
			}
			return n, nil
		},
		"sort": func(_ []any, self *exec.Value, va *exec.VarArgs) (any, error) {
			items := listItems(self)
			rev := va.KwArgs["reverse"] != nil && va.KwArgs["reverse"].IsTrue()
			var err error
			sort.SliceStable(items, func(i, j int) bool {
				a, b := items[i], items[j]
				if rev {
					a, b = b, a
				}
				switch {
				case a.IsNumber() && b.IsNumber():
					return a.Float() < b.Float()
				case a.IsString() && b.IsString():
					return a.String() < b.String()
				}
				err = fmt.Errorf("TypeError: '<' not supported between these list items")
				return false
			})
			if err != nil {
				return nil, err
			}
			return nil, setList(self, items)
		},
	})
}

func listItems(v *exec.Value) []*exec.Value {
	var out []*exec.Value
	v.Iterate(func(_, _ int, k, _ *exec.Value) bool { out = append(out, k); return true }, func() {})
	return out
}

// setList replaces the list's content in place when it can (so other references see the
// change), else the value itself (gonja then stores it back where it was read from).
func setList(self *exec.Value, items []*exec.Value) error {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.Interface()
	}
	*self = *exec.AsValue(out)
	return nil
}

func pyIndex(i, n int, clamp bool) int {
	if i < 0 {
		i += n
	}
	if clamp {
		i = max(0, min(i, n))
	}
	return i
}

func strReplace(s string, _ *exec.Value, va *exec.VarArgs) (any, error) {
	if len(va.Args) < 2 || len(va.Args) > 3 || !va.Args[0].IsString() || !va.Args[1].IsString() {
		return nil, fmt.Errorf("str.replace(old, new[, count]) takes two strings and an optional count")
	}
	count := -1
	if len(va.Args) == 3 {
		count = va.Args[2].Integer()
	}
	return strings.Replace(s, va.Args[0].String(), va.Args[1].String(), count), nil
}

func strSplit(s string, va *exec.VarArgs, right bool) (any, error) {
	var sep *exec.Value
	maxsplit := -1
	if len(va.Args) > 0 {
		sep = va.Args[0]
	}
	if v, ok := va.KwArgs["sep"]; ok {
		sep = v
	}
	if len(va.Args) > 1 {
		maxsplit = va.Args[1].Integer()
	}
	if v, ok := va.KwArgs["maxsplit"]; ok {
		maxsplit = v.Integer()
	}
	var parts []string
	if sep == nil || sep.IsNil() {
		fields := strings.Fields(s)
		if maxsplit >= 0 && len(fields) > maxsplit+1 {
			// keep the remainder's own spacing, as Python does
			if right {
				rest := strings.TrimRight(s, " \t\n\r\v\f")
				tail := fields[len(fields)-maxsplit:]
				for range tail {
					rest = strings.TrimRight(rest, " \t\n\r\v\f")
					rest = rest[:strings.LastIndexAny(rest, " \t\n\r\v\f")+1]
				}
				parts = append([]string{strings.TrimRight(rest, " \t\n\r\v\f")}, tail...)
			} else {
				rest := strings.TrimLeft(s, " \t\n\r\v\f")
				for i := 0; i < maxsplit; i++ {
					rest = strings.TrimLeft(rest[len(fields[i]):], " \t\n\r\v\f")
				}
				parts = append(append([]string{}, fields[:maxsplit]...), rest)
			}
		} else {
			parts = fields
		}
	} else {
		sp := sep.String()
		if sp == "" {
			return nil, fmt.Errorf("ValueError: empty separator")
		}
		switch {
		case maxsplit < 0:
			parts = strings.Split(s, sp)
		case !right:
			parts = strings.SplitN(s, sp, maxsplit+1)
		default:
			parts = []string{}
			rest := s
			for i := 0; i < maxsplit; i++ {
				j := strings.LastIndex(rest, sp)
				if j < 0 {
					break
				}
				parts = append([]string{rest[j+len(sp):]}, parts...)
				rest = rest[:j]
			}
			parts = append([]string{rest}, parts...)
		}
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func strAffix(s string, va *exec.VarArgs, has func(string, string) bool) (any, error) {
	if len(va.Args) < 1 {
		return nil, fmt.Errorf("startswith/endswith takes at least 1 argument")
	}
	start, end := 0, len(s)
	if len(va.Args) > 1 {
		start = pyIndex(va.Args[1].Integer(), len(s), true)
	}
	if len(va.Args) > 2 {
		end = pyIndex(va.Args[2].Integer(), len(s), true)
	}
	sub := ""
	if start <= end {
		sub = s[start:end]
	}
	if a := va.Args[0]; a.IsList() {
		for _, p := range listItems(a) {
			if has(sub, p.String()) {
				return true, nil
			}
		}
		return false, nil
	}
	return has(sub, va.Args[0].String()), nil
}

func strIndex(s string, va *exec.VarArgs, right bool) (any, error) {
	if len(va.Args) < 1 {
		return nil, fmt.Errorf("str.index takes at least 1 argument")
	}
	i := strings.Index(s, va.Args[0].String())
	if right {
		i = strings.LastIndex(s, va.Args[0].String())
	}
	if i < 0 {
		return nil, fmt.Errorf("ValueError: substring not found")
	}
	return len([]rune(s[:i])), nil
}
