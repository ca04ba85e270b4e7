package warehouse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// object is a JSON object that keeps its keys' order: dlt's stored schema lists a table's
// columns in table order, and its version hash depends on that order.
type object []member

type member struct {
	Key string
	Val any
}

func (o object) get(k string) (any, bool) {
	for _, m := range o {
		if m.Key == k {
			return m.Val, true
		}
	}
	return nil, false
}

func (o object) obj(k string) object {
	v, _ := o.get(k)
	ob, _ := v.(object)
	return ob
}

func (o *object) set(k string, v any) {
	for i, m := range *o {
		if m.Key == k {
			(*o)[i].Val = v
			return
		}
	}
	*o = append(*o, member{k, v})
}

func (o *object) del(k string) {
	for i, m := range *o {
		if m.Key == k {
			*o = append((*o)[:i], (*o)[i+1:]...)
			return
		}
	}
}

// decodeOrdered parses JSON keeping the order of object keys; numbers stay json.Number.
func decodeOrdered(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			var o object
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				o = append(o, member{kt.(string), v})
			}
			_, err := d.Token()
			if o == nil {
				o = object{}
			}
			return o, err
		case '[':
			a := []any{}
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

// encodeJSON writes v compactly, as Python's json/orjson do; sorted sorts object keys at every
// level (dlt's hashes are computed over sort_keys output).
func encodeJSON(b *bytes.Buffer, v any, sorted bool) {
	switch v := v.(type) {
	case object:
		ms := v
		if sorted {
			ms = append(object(nil), v...)
			sort.SliceStable(ms, func(i, j int) bool { return ms[i].Key < ms[j].Key })
		}
		b.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, m.Key)
			b.WriteByte(':')
			encodeJSON(b, m.Val, sorted)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeJSON(b, e, sorted)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case []string:
		a := make([]any, len(v))
		for i, s := range v {
			a[i] = s
		}
		encodeJSON(b, a, sorted)
	default:
		x, _ := json.Marshal(v)
		b.Write(x)
	}
}

// writeString quotes a string like orjson: only '"', '\\' and control characters escaped.
func writeString(b *bytes.Buffer, s string) {
	x, _ := json.Marshal(s)
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\u2028`, "\u2028", `\u2029`, "\u2029")
	b.WriteString(r.Replace(string(x)))
}
