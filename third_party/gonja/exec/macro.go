package exec

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
	"github.com/pkg/errors"
)

// Macro is the type macro functions must fulfill
type Macro func(params *VarArgs) *Value

type MacroSet map[string]Macro

// Exists returns true if the given filter is already registered
func (ms MacroSet) Exists(name string) bool {
	_, existing := ms[name]
	return existing
}

// Register registers a new filter. If there's already a filter with the same
// name, Register will panic. You usually want to call this
// function in the filter's init() function:
// http://golang.org/doc/effective_go.html#init
func (ms *MacroSet) Register(name string, fn Macro) error {
	if ms.Exists(name) {
		return errors.Errorf("filter with name '%s' is already registered", name)
	}
	(*ms)[name] = fn
	return nil
}

// Replace replaces an already registered filter with a new implementation. Use this
// function with caution since it allows you to change existing filter behaviour.
func (ms *MacroSet) Replace(name string, fn Macro) error {
	if !ms.Exists(name) {
		return errors.Errorf("filter with name '%s' does not exist (therefore cannot be overridden)", name)
	}
	(*ms)[name] = fn
	return nil
}

// MacroNodeToFunc makes a macro callable. dango: arguments bind as Jinja2 binds them —
// defaults are evaluated in order with the earlier arguments in scope, extra positional
// arguments go to `varargs` and extra keyword arguments to `kwargs` when the body refers to
// them (else they are an error), and a `caller` keyword argument (what {% call %} passes)
// is bound as `caller`. Upstream's *args/**kwargs signature extension still works.
func MacroNodeToFunc(node *nodes.Macro, r *Renderer) (Macro, error) {
	refs := referencedNames(node.Wrapper)
	for _, kw := range node.Kwargs {
		if kw.Value != nil {
			for n := range referencedNames(kw.Value) {
				refs[n] = true
			}
		}
	}
	varargsName, kwargsName := node.VarArgsName, node.KwArgsName
	if varargsName == "" && refs["varargs"] {
		varargsName = "varargs"
	}
	if kwargsName == "" && refs["kwargs"] {
		kwargsName = "kwargs"
	}
	return func(params *VarArgs) *Value {
		var out strings.Builder
		sub := r.Inherit()
		sub.Output = &out
		names := make([]string, len(node.Kwargs))
		for i, kw := range node.Kwargs {
			key := r.Eval(kw.Key)
			if key.IsError() {
				return AsValue(fmt.Errorf("macro '%s': bad parameter %s: %s", node.Name, kw.Key, key))
			}
			names[i] = key.String()
		}
		if len(params.Args) > len(names) && varargsName == "" {
			return AsValue(fmt.Errorf("macro '%s' takes not more than %d argument(s), got %d", node.Name, len(names), len(params.Args)))
		}
		bound := map[string]*Value{}
		for i, a := range params.Args {
			if i < len(names) {
				bound[names[i]] = a
			}
		}
		extraKwargs := map[string]any{}
		var caller *Value
		for keyword, argument := range params.KwArgs {
			known := false
			for _, n := range names {
				if n == keyword {
					known = true
				}
			}
			switch {
			case known:
				if _, twice := bound[keyword]; twice {
					return AsValue(fmt.Errorf("macro '%s' got multiple values for argument '%s'", node.Name, keyword))
				}
				bound[keyword] = argument
			case keyword == "caller":
				caller = argument
			case kwargsName != "":
				extraKwargs[keyword] = argument.Interface()
			default:
				return AsValue(fmt.Errorf("macro '%s' takes no keyword argument '%s'", node.Name, keyword))
			}
		}
		if caller != nil {
			sub.Environment.Context.Set("caller", caller)
		}
		for i, n := range names {
			v, ok := bound[n]
			if !ok {
				v = sub.Eval(node.Kwargs[i].Value)
				if v.IsError() {
					return AsValue(fmt.Errorf("macro '%s' failed to evaluate the default of '%s': %s", node.Name, n, v))
				}
			}
			sub.Environment.Context.Set(n, v)
		}
		if varargsName != "" {
			varArgs := []any{}
			for i := len(names); i < len(params.Args); i++ {
				varArgs = append(varArgs, params.Args[i].Interface())
			}
			sub.Environment.Context.Set(varargsName, varArgs)
		}
		if kwargsName != "" {
			sub.Environment.Context.Set(kwargsName, extraKwargs)
		}
		if err := sub.ExecuteWrapper(node.Wrapper); err != nil {
			where := "" // dango: name the file the macro is defined in
			if r.Template != nil && r.Template.identifier != "" {
				where = fmt.Sprintf(" (defined in %s, line %d)", strings.TrimPrefix(r.Template.identifier, "/"), node.Location.Line)
			}
			return AsValue(errors.Wrapf(err, `Unable to execute macro '%s'%s`, node.Name, where))
		}
		return AsSafeValue(out.String())
	}, nil
}

var (
	nameType  = reflect.TypeFor[*nodes.Name]()
	tokenType = reflect.TypeFor[*tokens.Token]()
)

// referencedNames lists the names a node tree refers to (Name nodes), walking it by
// reflection since gonja's nodes have no visitor.
func referencedNames(root any) map[string]bool {
	found := map[string]bool{}
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			switch v.Type() {
			case nameType: // fields read without Interface(): some nodes keep them unexported
				if tok := v.Elem().FieldByName("Name"); !tok.IsNil() {
					found[tok.Elem().FieldByName("Val").String()] = true
				}
				return
			case tokenType:
				return
			}
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		}
	}
	walk(reflect.ValueOf(root))
	return found
}
