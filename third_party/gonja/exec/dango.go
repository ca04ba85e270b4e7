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
