package exec

// Python arithmetic and %-formatting (dango change, see DANGO.md). Upstream gonja computed
// `'%s' % x` as an integer modulo and panicked (integer divide by zero); dbt packages format
// strings with % all the time.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// recoverEval turns a panic while evaluating node into an error value naming its line.
func recoverEval(node nodes.Expression, result **Value) {
	if r := recover(); r != nil {
		line := 0
		if node != nil {
			if pos := node.Position(); pos != nil {
				line = pos.Line
			}
		}
		*result = AsValue(fmt.Errorf("line %d: internal error evaluating %s: %v", line, node, r))
	}
}

// pyDivMod is /, // and % as Python computes them: true division, floor division and
// modulo with the divisor's sign, ZeroDivisionError as an error; str % args formats.
func pyDivMod(node *nodes.BinaryExpression, left, right *Value) *Value {
	op := node.Operator.Token.Type
	line := node.Operator.Token.Line
	if op == tokens.Modulo && left.IsString() {
		_, isTuple := node.Right.(*nodes.Tuple) // a tuple literal; lists evaluate alike
		s, err := PyPercentFormat(left.String(), right, isTuple)
		if err != nil {
			return AsValue(fmt.Errorf("line %d: %w", line, err))
		}
		return AsValue(s)
	}
	if !left.IsNumber() && !left.IsBool() || !right.IsNumber() && !right.IsBool() {
		sym := map[tokens.Type]string{tokens.Division: "/", tokens.FloorDivision: "//", tokens.Modulo: "%"}[op]
		return AsValue(fmt.Errorf("line %d: unsupported operand type(s) for %s: '%s' and '%s'", line, sym, typeName(left), typeName(right)))
	}
	if right.Float() == 0 {
		return AsValue(fmt.Errorf("line %d: ZeroDivisionError: division by zero", line))
	}
	bothInt := !left.IsFloat() && !right.IsFloat()
	switch op {
	case tokens.Division:
		return AsValue(left.Float() / right.Float())
	case tokens.FloorDivision:
		if bothInt {
			a, b := left.Integer(), right.Integer()
			q := a / b
			if (a%b != 0) && ((a < 0) != (b < 0)) {
				q--
			}
			return AsValue(q)
		}
		return AsValue(math.Floor(left.Float() / right.Float()))
	default:
		if bothInt {
			a, b := left.Integer(), right.Integer()
			m := a % b
			if m != 0 && (m < 0) != (b < 0) {
				m += b
			}
			return AsValue(m)
		}
		a, b := left.Float(), right.Float()
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return AsValue(m)
	}
}

// PyStr is Python's str() of a value: None, True/False, lists and dicts as Python prints them.
func PyStr(v *Value) string {
	if v == nil || v.IsNil() {
		return "None"
	}
	if v.IsList() || v.IsDict() {
		return PyRepr(v)
	}
	if v.IsFloat() {
		return pyFloatStr(v.Float())
	}
	return v.String()
}

func pyFloatStr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if a := math.Abs(f); a >= 1e16 || a < 1e-4 && a != 0 {
		s = strconv.FormatFloat(f, 'e', -1, 64)
		if i := strings.Index(s, "e"); i >= 0 && len(s) > i+2 && s[i+2] == '0' && len(s) == i+4 {
			s = s[:i+2] + s[i+3:]
		}
		return strings.Replace(strings.Replace(s, "e+0", "e+", 1), "e-0", "e-", 1)
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// PyRepr is Python's repr() of a value.
func PyRepr(v *Value) string {
	switch {
	case v == nil || v.IsNil():
		return "None"
	case v.IsString():
		return pyQuote(v.String())
	case v.IsBool():
		if v.Bool() {
			return "True"
		}
		return "False"
	case v.IsFloat():
		return pyFloatStr(v.Float())
	case v.IsList():
		var parts []string
		v.Iterate(func(_, _ int, item, _ *Value) bool {
			parts = append(parts, PyRepr(item))
			return true
		}, func() {})
		return "[" + strings.Join(parts, ", ") + "]"
	case v.IsDict():
		var parts []string
		v.Iterate(func(_, _ int, k, val *Value) bool {
			parts = append(parts, PyRepr(k)+": "+PyRepr(val))
			return true
		}, func() {})
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.String()
}

func pyQuote(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	var b strings.Builder
	b.WriteString(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case string(r) == q:
			b.WriteString(`\` + q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(q)
	return b.String()
}

// PyPercentFormat is Python's `format % args`: args is a tuple of values, a mapping for
// %(name)s, or a single value.
func PyPercentFormat(format string, args *Value, isTuple bool) (string, error) {
	var list []*Value
	var mapping *Value
	if isTuple {
		args.Iterate(func(_, _ int, item, _ *Value) bool { list = append(list, item); return true }, func() {})
	} else {
		list = []*Value{args}
		if args != nil && args.IsDict() {
			mapping = args
		}
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", fmt.Errorf("ValueError: incomplete format")
		}
		var arg *Value
		if format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 {
				return "", fmt.Errorf("ValueError: incomplete format key")
			}
			key := format[i+1 : i+end]
			i += end + 1
			if mapping == nil {
				return "", fmt.Errorf("TypeError: format requires a mapping")
			}
			v, ok := mapping.GetItem(key)
			if !ok {
				return "", fmt.Errorf("KeyError: '%s'", key)
			}
			arg = v
		}
		start := i
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		flags := format[start:i]
		ws := i
		for i < len(format) && (format[i] >= '0' && format[i] <= '9' || format[i] == '*') {
			i++
		}
		width := format[ws:i]
		prec := ""
		if i < len(format) && format[i] == '.' {
			ps := i
			i++
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			prec = format[ps:i]
		}
		for i < len(format) && strings.IndexByte("hlL", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			return "", fmt.Errorf("ValueError: incomplete format")
		}
		verb := format[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if strings.Contains(width, "*") {
			return "", fmt.Errorf("'*' widths in %%-format are not supported")
		}
		if arg == nil {
			if next >= len(list) {
				return "", fmt.Errorf("TypeError: not enough arguments for format string")
			}
			arg = list[next]
			next++
		}
		spec := "%" + flags + width + prec
		switch verb {
		case 's':
			b.WriteString(fmt.Sprintf(strings.ReplaceAll(spec, "0", "")+"s", PyStr(arg)))
		case 'r', 'a':
			b.WriteString(fmt.Sprintf(strings.ReplaceAll(spec, "0", "")+"s", PyRepr(arg)))
		case 'd', 'i', 'u':
			if !arg.IsNumber() && !arg.IsBool() {
				return "", fmt.Errorf("TypeError: %%%c format: a real number is required, not %s", verb, typeName(arg))
			}
			n := arg.Integer()
			if arg.IsFloat() {
				n = int(math.Trunc(arg.Float()))
			}
			b.WriteString(fmt.Sprintf(spec+"d", n))
		case 'f', 'F', 'e', 'E', 'g', 'G':
			if !arg.IsNumber() && !arg.IsBool() {
				return "", fmt.Errorf("TypeError: must be real number, not %s", typeName(arg))
			}
			if prec == "" {
				spec += ".6"
			}
			b.WriteString(fmt.Sprintf(spec+string(verb), arg.Float()))
		case 'x', 'X', 'o':
			if !arg.IsInteger() && !arg.IsBool() {
				return "", fmt.Errorf("TypeError: %%%c format: an integer is required, not %s", verb, typeName(arg))
			}
			spec = strings.Replace(spec, "#", "", 1)
			prefix := ""
			if strings.Contains(flags, "#") {
				prefix = map[byte]string{'x': "0x", 'X': "0X", 'o': "0o"}[verb]
			}
			b.WriteString(prefix + fmt.Sprintf(spec+string(verb), arg.Integer()))
		case 'c':
			if arg.IsInteger() {
				b.WriteRune(rune(arg.Integer()))
			} else {
				b.WriteString(arg.String())
			}
		default:
			return "", fmt.Errorf("ValueError: unsupported format character '%c' (0x%x)", verb, verb)
		}
	}
	if mapping == nil && next < len(list) {
		return "", fmt.Errorf("TypeError: not all arguments converted during string formatting")
	}
	return b.String(), nil
}
