package exec

// Evaluation added by dango (see DANGO.md): conditional expressions and call-site
// *args/**kwargs, as Jinja2 evaluates them.

import (
	"fmt"

	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Undefined is the value of a conditional expression whose test is false and that has
// no else branch; it renders as the empty string, like Jinja2's Undefined.
func (e *Evaluator) evalCondExpr(n *nodes.CondExpr) *Value {
	test := e.Eval(n.Test)
	if test.IsError() {
		return test
	}
	if test.IsTrue() {
		return e.Eval(n.Expr1)
	}
	if n.Expr2 == nil {
		return AsValue(nil)
	}
	return e.Eval(n.Expr2)
}

// spliceDynArgs evaluates a call's *args and **kwargs and returns the call with them
// spliced in as plain arguments.
func (e *Evaluator) spliceDynArgs(node *nodes.Call) (*nodes.Call, error) {
	out := *node
	out.DynArgs, out.DynKwargs = nil, nil
	out.Args = append([]nodes.Expression{}, node.Args...)
	out.Kwargs = make(map[string]nodes.Expression, len(node.Kwargs))
	for k, v := range node.Kwargs {
		out.Kwargs[k] = v
	}
	if node.DynArgs != nil {
		v := e.Eval(node.DynArgs)
		if v.IsError() {
			return nil, v
		}
		if !v.IsIterable() {
			return nil, fmt.Errorf("line %d: *%s must be an iterable, not %s", node.Location.Line, node.DynArgs, typeName(v))
		}
		v.Iterate(func(_, _ int, key, _ *Value) bool {
			out.Args = append(out.Args, &nodes.Const{Location: node.Location, Val: key})
			return true
		}, func() {})
	}
	if node.DynKwargs != nil {
		v := e.Eval(node.DynKwargs)
		if v.IsError() {
			return nil, v
		}
		if !v.IsDict() {
			return nil, fmt.Errorf("line %d: **%s must be a mapping, not %s", node.Location.Line, node.DynKwargs, typeName(v))
		}
		var err error
		v.Iterate(func(_, _ int, key, value *Value) bool {
			if _, dup := out.Kwargs[key.String()]; dup {
				err = fmt.Errorf("line %d: got multiple values for keyword argument '%s'", node.Location.Line, key.String())
				return false
			}
			out.Kwargs[key.String()] = &nodes.Const{Location: node.Location, Val: value}
			return true
		}, func() {})
		if err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// typeName names a value's type as Python would.
func typeName(v *Value) string {
	switch {
	case v.IsNil():
		return "NoneType"
	case v.IsString():
		return "str"
	case v.IsBool():
		return "bool"
	case v.IsInteger():
		return "int"
	case v.IsFloat():
		return "float"
	case v.IsList():
		return "list"
	case v.IsDict():
		return "dict"
	case v.IsCallable():
		return "function"
	}
	return fmt.Sprintf("%T", v.Interface())
}

// writeBack stores a value a method changed (lists are Go slices: append makes a new one)
// into the dict or namespace it was read from, so `ns.xs.append(1)` and `d['k'].append(1)`
// change ns and d as they do in Python.
func (e *Evaluator) writeBack(node nodes.Node, v *Value) {
	switch n := node.(type) {
	case *nodes.GetAttribute:
		if n.Attribute == "" {
			return
		}
		if container := e.Eval(n.Node); container.IsDict() {
			_ = container.Set(AsValue(n.Attribute), v.Interface())
		}
	case *nodes.GetItem:
		key := e.Eval(n.Arg)
		if container := e.Eval(n.Node); container.IsDict() && key.IsString() {
			_ = container.Set(key, v.Interface())
		}
	}
}

// With returns a copy of the set with methods added or replaced (dango: lets an embedder
// give methods Python's exact semantics without forking the builtins).
func (m *MethodSet[I]) With(methods map[string]Method[I]) *MethodSet[I] {
	m.lock.Lock()
	defer m.lock.Unlock()
	merged := make(map[string]Method[I], len(m.methods)+len(methods))
	for k, v := range m.methods {
		merged[k] = v
	}
	for k, v := range methods {
		merged[k] = v
	}
	return &MethodSet[I]{methods: merged}
}
