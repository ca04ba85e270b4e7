package batch

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dangohq/dango/naming"
)

// Type is a DuckDB column type parsed from its text: a base type from a closed set, a
// DECIMAL with bounded precision and scale, a STRUCT of named fields, a MAP, or a list
// (T[]) or fixed-size array (T[n]) of another type.
//
// Batches arrive from workers, which may be buggy or hostile: the writer never pastes a
// message's type text into SQL. It parses the text into a Type and renders SQL from the
// parsed form (String), so nothing but names from the closed set, numbers and quoted field
// names can reach a statement.
type Type struct {
	Base      string // canonical name: INTEGER, TIMESTAMP WITH TIME ZONE, DECIMAL, STRUCT, MAP, LIST, ARRAY
	Precision int    // DECIMAL
	Scale     int    // DECIMAL
	Fields    []TypeField
	Key       *Type // MAP key
	Elem      *Type // MAP value, LIST/ARRAY element
	Size      int   // ARRAY
}

// TypeField is one field of a STRUCT type.
type TypeField struct {
	Name string
	Type *Type
}

// Limits on type text: generous for real schemas (JSON objects flatten to at most a few
// hundred fields, DuckDB nests rarely past a handful of levels), small enough that a
// forged type cannot exhaust the writer.
const (
	maxTypeLen   = 1 << 20
	maxTypeDepth = 32
	maxNameLen   = 1024
	maxArraySize = 1 << 16
)

// baseTypes maps every accepted spelling of a scalar type to DuckDB's catalog name.
var baseTypes = map[string]string{
	"BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "LOGICAL": "BOOLEAN",
	"TINYINT": "TINYINT", "INT1": "TINYINT",
	"SMALLINT": "SMALLINT", "INT2": "SMALLINT", "SHORT": "SMALLINT",
	"INTEGER": "INTEGER", "INT4": "INTEGER", "INT": "INTEGER", "SIGNED": "INTEGER",
	"BIGINT": "BIGINT", "INT8": "BIGINT", "LONG": "BIGINT",
	"HUGEINT": "HUGEINT", "INT128": "HUGEINT",
	"UTINYINT": "UTINYINT", "USMALLINT": "USMALLINT", "UINTEGER": "UINTEGER", "UBIGINT": "UBIGINT", "UHUGEINT": "UHUGEINT",
	"FLOAT": "FLOAT", "FLOAT4": "FLOAT", "REAL": "FLOAT",
	"DOUBLE": "DOUBLE", "FLOAT8": "DOUBLE",
	"VARCHAR": "VARCHAR", "STRING": "VARCHAR", "TEXT": "VARCHAR", "CHAR": "VARCHAR", "BPCHAR": "VARCHAR",
	"BLOB": "BLOB", "BYTEA": "BLOB", "BINARY": "BLOB", "VARBINARY": "BLOB",
	"DATE": "DATE", "TIME": "TIME", "TIMETZ": "TIME WITH TIME ZONE", "TIME WITH TIME ZONE": "TIME WITH TIME ZONE",
	"TIMESTAMP": "TIMESTAMP", "DATETIME": "TIMESTAMP", "TIMESTAMP_US": "TIMESTAMP",
	"TIMESTAMP_S": "TIMESTAMP_S", "TIMESTAMP_MS": "TIMESTAMP_MS", "TIMESTAMP_NS": "TIMESTAMP_NS",
	"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP WITH TIME ZONE",
	"INTERVAL": "INTERVAL", "TIME_NS": "TIME_NS", "UUID": "UUID", "JSON": "JSON", "BIT": "BIT", "BITSTRING": "BIT",
	"VARINT": "VARINT", "BIGNUM": "BIGNUM",
}

// ParseType parses a DuckDB type as connectors and DuckDB's catalog write it.
func ParseType(s string) (*Type, error) {
	if len(s) > maxTypeLen {
		return nil, fmt.Errorf("type is %d bytes long, more than the %d accepted", len(s), maxTypeLen)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("type %s is not valid UTF-8", Short(s))
	}
	p := &typeParser{s: s}
	t, err := p.typ(0)
	if err != nil {
		return nil, fmt.Errorf("type %s: %w", Short(s), err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("type %s: unexpected %s at offset %d", Short(s), Short(p.s[p.i:]), p.i)
	}
	return t, nil
}

// SQLType parses a type and renders it back: the only form of a type the writer puts in SQL.
func SQLType(s string) (string, error) {
	t, err := ParseType(s)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// String renders the type as DuckDB SQL. Field names are always double-quoted.
func (t *Type) String() string {
	var b strings.Builder
	t.render(&b)
	return b.String()
}

func (t *Type) render(b *strings.Builder) {
	switch t.Base {
	case "DECIMAL":
		fmt.Fprintf(b, "DECIMAL(%d,%d)", t.Precision, t.Scale)
	case "STRUCT":
		b.WriteString("STRUCT(")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(naming.Quote(f.Name))
			b.WriteByte(' ')
			f.Type.render(b)
		}
		b.WriteByte(')')
	case "MAP":
		b.WriteString("MAP(")
		t.Key.render(b)
		b.WriteString(", ")
		t.Elem.render(b)
		b.WriteByte(')')
	case "LIST":
		t.Elem.render(b)
		b.WriteString("[]")
	case "ARRAY":
		t.Elem.render(b)
		b.WriteString("[" + strconv.Itoa(t.Size) + "]")
	default:
		b.WriteString(t.Base)
	}
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *typeParser) eat(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *typeParser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *typeParser) number() (int, error) {
	p.space()
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' && p.i-start < 9 {
		p.i++
	}
	if p.i == start {
		return 0, fmt.Errorf("expected a number at offset %d", p.i)
	}
	return strconv.Atoi(p.s[start:p.i])
}

func (p *typeParser) typ(depth int) (*Type, error) {
	if depth > maxTypeDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxTypeDepth)
	}
	t, err := p.base(depth)
	if err != nil {
		return nil, err
	}
	for n := 0; p.eat('['); n++ {
		if depth+n > maxTypeDepth {
			return nil, fmt.Errorf("nested more than %d levels deep", maxTypeDepth)
		}
		if p.eat(']') {
			t = &Type{Base: "LIST", Elem: t}
			continue
		}
		size, err := p.number()
		if err != nil {
			return nil, err
		}
		if size < 1 || size > maxArraySize {
			return nil, fmt.Errorf("array size %d is outside 1..%d", size, maxArraySize)
		}
		if !p.eat(']') {
			return nil, fmt.Errorf("expected ] at offset %d", p.i)
		}
		t = &Type{Base: "ARRAY", Elem: t, Size: size}
	}
	return t, nil
}

func (p *typeParser) base(depth int) (*Type, error) {
	w := strings.ToUpper(p.word())
	switch w {
	case "":
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("missing type")
		}
		return nil, fmt.Errorf("unexpected %s at offset %d", Short(p.s[p.i:]), p.i)
	case "STRUCT", "ROW":
		if !p.eat('(') {
			return nil, fmt.Errorf("STRUCT needs (fields)")
		}
		t := &Type{Base: "STRUCT"}
		seen := map[string]bool{}
		for {
			name, err := p.fieldName()
			if err != nil {
				return nil, err
			}
			if seen[strings.ToLower(name)] {
				return nil, fmt.Errorf("STRUCT field %s appears twice", Short(name))
			}
			seen[strings.ToLower(name)] = true
			ft, err := p.typ(depth + 1)
			if err != nil {
				return nil, err
			}
			t.Fields = append(t.Fields, TypeField{Name: name, Type: ft})
			if p.eat(')') {
				return t, nil
			}
			if !p.eat(',') {
				return nil, fmt.Errorf("expected , or ) at offset %d", p.i)
			}
		}
	case "MAP":
		if !p.eat('(') {
			return nil, fmt.Errorf("MAP needs (key, value)")
		}
		k, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.eat(',') {
			return nil, fmt.Errorf("expected , at offset %d", p.i)
		}
		v, err := p.typ(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.eat(')') {
			return nil, fmt.Errorf("expected ) at offset %d", p.i)
		}
		return &Type{Base: "MAP", Key: k, Elem: v}, nil
	case "DECIMAL", "NUMERIC", "DEC":
		t := &Type{Base: "DECIMAL", Precision: 18, Scale: 3} // DuckDB's default
		if !p.eat('(') {
			return t, nil
		}
		prec, err := p.number()
		if err != nil {
			return nil, err
		}
		t.Precision, t.Scale = prec, 0
		if p.eat(',') {
			if t.Scale, err = p.number(); err != nil {
				return nil, err
			}
		}
		if !p.eat(')') {
			return nil, fmt.Errorf("expected ) at offset %d", p.i)
		}
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("DECIMAL(%d,%d) is outside DuckDB's bounds (precision 1..38, scale 0..precision)", t.Precision, t.Scale)
		}
		return t, nil
	case "TIMESTAMP", "TIME":
		// TIMESTAMP WITH TIME ZONE / TIME WITH TIME ZONE: the only multi-word names.
		save := p.i
		if strings.EqualFold(p.word(), "WITH") && strings.EqualFold(p.word(), "TIME") && strings.EqualFold(p.word(), "ZONE") {
			return &Type{Base: w + " WITH TIME ZONE"}, nil
		}
		p.i = save
		return &Type{Base: w}, nil
	case "VARCHAR", "CHAR", "BPCHAR":
		// VARCHAR(n): DuckDB ignores the length; accept it and drop it.
		save := p.i
		if p.eat('(') {
			if _, err := p.number(); err != nil || !p.eat(')') {
				p.i = save
				return nil, fmt.Errorf("VARCHAR takes at most a length, VARCHAR(n)")
			}
		}
		return &Type{Base: "VARCHAR"}, nil
	}
	if c, ok := baseTypes[w]; ok {
		return &Type{Base: c}, nil
	}
	return nil, fmt.Errorf("unknown type name %s", Short(w))
}

func (p *typeParser) fieldName() (string, error) {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		var b strings.Builder
		for j := p.i + 1; j < len(p.s); j++ {
			if p.s[j] == '"' {
				if j+1 < len(p.s) && p.s[j+1] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				p.i = j + 1
				return checkFieldName(b.String())
			}
			b.WriteByte(p.s[j])
		}
		return "", fmt.Errorf("unterminated quoted field name")
	}
	start := p.i
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			break
		}
		p.i += n
	}
	if p.i == start {
		return "", fmt.Errorf("expected a field name at offset %d", p.i)
	}
	return checkFieldName(p.s[start:p.i])
}

func checkFieldName(n string) (string, error) {
	switch {
	case n == "":
		return "", fmt.Errorf("empty STRUCT field name")
	case len(n) > maxNameLen:
		return "", fmt.Errorf("STRUCT field name longer than %d bytes", maxNameLen)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("STRUCT field name %s contains a NUL byte", Short(n))
	}
	return n, nil
}

// Short quotes s for an error message, cut to a length that keeps logs readable: batches
// are not trusted, and a forged one must not fill the log with its content.
func Short(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}
