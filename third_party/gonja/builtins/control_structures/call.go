package controlStructures

import (
	"bytes"
	"fmt"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
	"github.com/pkg/errors"
)

// CallControlStructure implements Jinja2's
//
//	{% call macro_name(args...) %} body {% endcall %}
//
// The body is exposed inside the macro as the `caller()` function.
type CallControlStructure struct {
	Location *tokens.Token
	Call     *nodes.Call    // the macro invocation
	Body     *nodes.Wrapper // body to expose as caller()
	Params   []CallParam    // dango: {% call(params) ... %}
}

func (c *CallControlStructure) Position() *tokens.Token { return c.Location }
func (c *CallControlStructure) String() string {
	t := c.Position()
	return fmt.Sprintf("CallControlStructure(Line=%d Col=%d)", t.Line, t.Col)
}

func (c *CallControlStructure) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	// caller(...) renders the body with the {% call(params) %} parameters bound.
	callerFn := func(va *exec.VarArgs) *exec.Value {
		buf := new(bytes.Buffer)
		sub := r.Inherit()
		sub.Output = buf
		if len(va.Args) > len(c.Params) {
			return exec.AsValue(fmt.Errorf("caller() takes not more than %d argument(s), got %d", len(c.Params), len(va.Args)))
		}
		for i, p := range c.Params {
			var v *exec.Value
			if i < len(va.Args) {
				v = va.Args[i]
			} else if kw, ok := va.KwArgs[p.Name]; ok {
				v = kw
			} else if p.Default != nil {
				v = sub.Eval(p.Default)
			} else {
				v = exec.AsValue(nil)
			}
			sub.Environment.Context.Set(p.Name, v)
		}
		if err := sub.ExecuteWrapper(c.Body); err != nil {
			return exec.AsValue(err)
		}
		return exec.AsSafeValue(buf.String())
	}
	// dango: caller goes to the macro as the keyword argument `caller`, as in Jinja2
	// (upstream stashed it in the context, where the first macro evaluated took it).
	call := *c.Call
	call.Kwargs = map[string]nodes.Expression{"caller": &nodes.Const{Location: c.Location, Val: callerFn}}
	for k, v := range c.Call.Kwargs {
		call.Kwargs[k] = v
	}
	result := r.Eval(&call)
	if result.IsError() {
		return errors.Wrapf(result, "Unable to execute {%% call %%}")
	}
	if _, err := r.Output.Write([]byte(result.String())); err != nil {
		return err
	}
	return nil
}

// CallParam is a parameter of {% call(name, other=default) macro() %}.
type CallParam struct {
	Name    string
	Default nodes.Expression
}

func callParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	cs := &CallControlStructure{Location: p.Current()}

	// Optional caller signature: {% call(x, y=1) macro(...) %}.
	if args.Match(tokens.LeftParenthesis) != nil {
		for args.Match(tokens.RightParenthesis) == nil {
			if len(cs.Params) > 0 && args.Match(tokens.Comma) == nil {
				return nil, args.Error("expected ',' or ')' in the call block's parameters", args.Current())
			}
			name := args.Match(tokens.Name)
			if name == nil {
				return nil, args.Error("expected a parameter name in the call block's parameters", args.Current())
			}
			param := CallParam{Name: name.Val}
			if args.Match(tokens.Assign) != nil {
				def, err := args.ParseExpression()
				if err != nil {
					return nil, err
				}
				param.Default = def
			}
			cs.Params = append(cs.Params, param)
		}
	}

	// Parse the macro-call expression: name(arg1, arg2, key=val, ...).
	expr, err := args.ParseExpression()
	if err != nil {
		return nil, err
	}
	call, ok := expr.(*nodes.Call)
	if !ok {
		return nil, args.Error("Expected a macro call expression after {% call %}", args.Current())
	}
	cs.Call = call

	if !args.End() {
		return nil, args.Error("Malformed call-tag arguments.", args.Current())
	}

	// Parse body until {% endcall %}.
	wrapper, endargs, err := p.WrapUntil("endcall")
	if err != nil {
		return nil, err
	}
	cs.Body = wrapper
	if !endargs.End() {
		return nil, endargs.Error("endcall takes no arguments", nil)
	}
	return cs, nil
}
