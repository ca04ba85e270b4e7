package parser

// Expression grammar as Jinja2 (Python) parses it (dango change, see DANGO.md). Upstream
// gonja's grammar differed in ways real dbt packages hit: no conditional expression outside
// {{ }} and {% set %}, `~` binding tighter than `+`, no `*args`/`**kwargs` at call sites,
// `in` parsed as a test. (Jinja2's `~` binds tighter than `+`: `1 ~ 2 + 3` is '12' + 3.)
// Precedence, lowest first:
//
//	condexpr  or  and  not  compare(== != < <= > >= in, not in)  + -  ~  * / // %  **
//	unary(- +)  primary postfix(. [] ()) filters(| is ())

import (
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// ParseExpression parses a full expression, conditional expressions included.
func (p *Parser) ParseExpression() (nodes.Expression, error) {
	return p.parseCondExpr(true)
}

// ParseExpressionNoCond parses an expression where a trailing `if` belongs to the
// enclosing tag ({% for x in xs if cond %}).
func (p *Parser) ParseExpressionNoCond() (nodes.Expression, error) {
	return p.parseCondExpr(false)
}

// ParseLogicalExpression is kept for callers of the upstream API: an expression without
// filters applied to the whole of it (filters bind to unary terms, as in Jinja2).
func (p *Parser) ParseLogicalExpression() (nodes.Expression, error) {
	return p.parseOr()
}

func (p *Parser) parseCondExpr(withCond bool) (nodes.Expression, error) {
	expr, err := p.parseOr()
	if err != nil || !withCond {
		return expr, err
	}
	for {
		tok := p.CurrentName("if")
		if tok == nil {
			return expr, nil
		}
		p.Consume()
		test, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		cond := &nodes.CondExpr{Location: tok, Test: test, Expr1: expr}
		if p.MatchName("else") != nil {
			if cond.Expr2, err = p.parseCondExpr(true); err != nil {
				return nil, err
			}
		}
		expr = cond
	}
}

func (p *Parser) parseOr() (nodes.Expression, error) {
	expr, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.Current(tokens.Or) != nil {
		op := BinOp(p.Pop())
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		expr = &nodes.BinaryExpression{Left: expr, Right: right, Operator: op}
	}
	return expr, nil
}

func (p *Parser) parseAnd() (nodes.Expression, error) {
	expr, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.Current(tokens.And) != nil {
		op := BinOp(p.Pop())
		right, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		expr = &nodes.BinaryExpression{Left: expr, Right: right, Operator: op}
	}
	return expr, nil
}

func (p *Parser) parseNot() (nodes.Expression, error) {
	if op := p.Match(tokens.Not); op != nil {
		term, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &nodes.Negation{Operator: op, Term: term}, nil
	}
	return p.parseCompare()
}

func (p *Parser) parseCompare() (nodes.Expression, error) {
	expr, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	var chained nodes.Expression // a < b < c is (a < b) and (b < c)
	left := expr
	for {
		var op *tokens.Token
		negate := (*tokens.Token)(nil)
		switch {
		case p.Current(compareOps...) != nil, p.Current(tokens.In) != nil:
			op = p.Pop()
		case p.Current(tokens.Not) != nil && p.Peek(tokens.In) != nil:
			negate = p.Pop()
			op = p.Pop()
		default:
			if chained != nil {
				return chained, nil
			}
			return left, nil
		}
		right, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		var cmp nodes.Expression = &nodes.BinaryExpression{Left: left, Right: right, Operator: BinOp(op)}
		if negate != nil {
			cmp = &nodes.Negation{Operator: negate, Term: cmp}
		}
		if chained == nil {
			chained = cmp
		} else {
			chained = &nodes.BinaryExpression{Left: chained, Right: cmp,
				Operator: BinOp(&tokens.Token{Type: tokens.And, Val: "and", Line: op.Line, Col: op.Col, Pos: op.Pos})}
		}
		left = right
	}
}

func (p *Parser) parseConcat() (nodes.Expression, error) {
	expr, err := p.parseMath2()
	if err != nil {
		return nil, err
	}
	for p.Current(tokens.Tilde) != nil {
		op := BinOp(p.Pop())
		right, err := p.parseMath2()
		if err != nil {
			return nil, err
		}
		expr = &nodes.BinaryExpression{Left: expr, Right: right, Operator: op}
	}
	return expr, nil
}

// ParseMath parses + and - (and what binds tighter).
func (p *Parser) ParseMath() (nodes.Expression, error) { return p.parseMath1() }

func (p *Parser) parseMath1() (nodes.Expression, error) {
	expr, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	for p.Current(tokens.Addition, tokens.Subtraction) != nil {
		op := BinOp(p.Pop())
		right, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		expr = &nodes.BinaryExpression{Left: expr, Right: right, Operator: op}
	}
	return expr, nil
}

func (p *Parser) parseMath2() (nodes.Expression, error) {
	expr, err := p.parsePow()
	if err != nil {
		return nil, err
	}
	for p.Current(tokens.Multiply, tokens.Division, tokens.FloorDivision, tokens.Modulo) != nil {
		op := BinOp(p.Pop())
		right, err := p.parsePow()
		if err != nil {
			return nil, err
		}
		expr = &nodes.BinaryExpression{Left: expr, Right: right, Operator: op}
	}
	return expr, nil
}

func (p *Parser) parsePow() (nodes.Expression, error) {
	expr, err := p.parseUnaryJ(true)
	if err != nil {
		return nil, err
	}
	for p.Current(tokens.Power) != nil {
		op := BinOp(p.Pop())
		right, err := p.parseUnaryJ(true)
		if err != nil {
			return nil, err
		}
		expr = &nodes.BinaryExpression{Left: expr, Right: right, Operator: op}
	}
	return expr, nil
}

func (p *Parser) parseUnaryJ(withFilter bool) (nodes.Expression, error) {
	var expr nodes.Expression
	if sign := p.Match(tokens.Addition, tokens.Subtraction); sign != nil {
		term, err := p.parseUnaryJ(false)
		if err != nil {
			return nil, err
		}
		expr = &nodes.UnaryExpression{Operator: sign, Negative: sign.Val == "-", Term: term}
	} else {
		primary, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		if expr, err = p.parsePostfix(primary); err != nil {
			return nil, err
		}
	}
	if withFilter {
		return p.parseFilterExpr(expr)
	}
	return expr, nil
}

func (p *Parser) parsePrimary() (nodes.Expression, error) {
	t := p.Current()
	if t == nil {
		return nil, p.Error("unexpected end of expression, expected a number, string, keyword or identifier", nil)
	}
	switch t.Type {
	case tokens.Name:
		return p.ParseVariable()
	case tokens.String:
		first := p.Pop()
		val := first.Val
		for next := p.Match(tokens.String); next != nil; next = p.Match(tokens.String) {
			val += next.Val // adjacent literals concatenate, as in Python
		}
		return &nodes.String{Location: first, Val: val}, nil
	case tokens.Integer, tokens.Float:
		return p.parseNumber()
	case tokens.LeftParenthesis:
		return p.parseParenthesised()
	case tokens.LeftBracket:
		return p.parseList()
	case tokens.LeftBrace:
		return p.parseDict()
	}
	return nil, p.Error("expected either a number, string, keyword or identifier.", t)
}

// parseParenthesised parses (), (expr), (a,) and (a, b, ...).
func (p *Parser) parseParenthesised() (nodes.Expression, error) {
	t := p.Match(tokens.LeftParenthesis)
	if p.Match(tokens.RightParenthesis) != nil {
		return &nodes.Tuple{Location: t, Val: []nodes.Expression{}}, nil
	}
	first, err := p.ParseExpression()
	if err != nil {
		return nil, err
	}
	list := []nodes.Expression{first}
	isTuple := false
	for p.Match(tokens.Comma) != nil {
		isTuple = true
		if p.Current(tokens.RightParenthesis) != nil {
			break
		}
		expr, err := p.ParseExpression()
		if err != nil {
			return nil, err
		}
		list = append(list, expr)
	}
	if p.Match(tokens.RightParenthesis) == nil {
		return nil, p.Error("unbalanced parenthesis: expected ')'", p.currentOr(t))
	}
	if isTuple {
		return &nodes.Tuple{Location: t, Val: list}, nil
	}
	return first, nil
}

func (p *Parser) parseList() (nodes.Expression, error) {
	t := p.Match(tokens.LeftBracket)
	list := []nodes.Expression{}
	for p.Current(tokens.RightBracket) == nil {
		if len(list) > 0 && p.Match(tokens.Comma) == nil {
			return nil, p.Error("expected ',' or ']' in list literal", p.currentOr(t))
		}
		if p.Current(tokens.RightBracket) != nil {
			break // trailing comma
		}
		expr, err := p.ParseExpression()
		if err != nil {
			return nil, err
		}
		list = append(list, expr)
	}
	p.Consume()
	return &nodes.List{Location: t, Val: list}, nil
}

func (p *Parser) parseDict() (nodes.Expression, error) {
	t := p.Match(tokens.LeftBrace)
	dict := &nodes.Dict{Token: t, Pairs: []*nodes.Pair{}}
	for p.Current(tokens.RightBrace) == nil {
		if len(dict.Pairs) > 0 && p.Match(tokens.Comma) == nil {
			return nil, p.Error("expected ',' or '}' in dict literal", p.currentOr(t))
		}
		if p.Current(tokens.RightBrace) != nil {
			break // trailing comma
		}
		key, err := p.ParseExpression()
		if err != nil {
			return nil, err
		}
		if p.Match(tokens.Colon) == nil {
			return nil, p.Error("expected ':' after a dict key", p.currentOr(t))
		}
		value, err := p.ParseExpression()
		if err != nil {
			return nil, err
		}
		dict.Pairs = append(dict.Pairs, &nodes.Pair{Key: key, Value: value})
	}
	p.Consume()
	return dict, nil
}

func (p *Parser) parsePostfix(expr nodes.Expression) (nodes.Expression, error) {
	var parent nodes.Node
	for {
		if accessor := p.Match(tokens.Dot, tokens.LeftBracket); accessor != nil {
			getter, err := p.ParseGetter(accessor, expr)
			if err != nil {
				return nil, err
			}
			parent, expr = expr, getter
			continue
		}
		if p.Current(tokens.LeftParenthesis) != nil {
			call, err := p.parseCall(expr, parent)
			if err != nil {
				return nil, err
			}
			parent, expr = nil, call
			continue
		}
		return expr, nil
	}
}

func (p *Parser) parseFilterExpr(expr nodes.Expression) (nodes.Expression, error) {
	for {
		switch {
		case p.Current(tokens.Pipe) != nil:
			filtered, ok := expr.(*nodes.FilteredExpression)
			if !ok {
				filtered = &nodes.FilteredExpression{Expression: expr}
			}
			for p.Match(tokens.Pipe) != nil {
				filter, err := p.ParseFilter()
				if err != nil {
					return nil, err
				}
				filtered.Filters = append(filtered.Filters, filter)
			}
			expr = filtered
		case p.Current(tokens.Is) != nil:
			test, err := p.parseTestJ(expr)
			if err != nil {
				return nil, err
			}
			expr = test
		case p.Current(tokens.LeftParenthesis) != nil:
			call, err := p.parseCall(expr, nil)
			if err != nil {
				return nil, err
			}
			expr = call
		default:
			return expr, nil
		}
	}
}

func (p *Parser) parseTestJ(expr nodes.Expression) (nodes.Expression, error) {
	p.Match(tokens.Is)
	not := p.Match(tokens.Not)
	name := p.Match(tokens.Name)
	if name == nil {
		// `is in`, `is ==` are not Jinja2, but upstream gonja had tests named so.
		name = p.Match(append([]tokens.Type{tokens.In}, compareOps...)...)
		if name == nil {
			return nil, p.Error("expected a test name after 'is'", p.currentOr(nil))
		}
	}
	for p.Current(tokens.Dot) != nil && p.Peek(tokens.Name) != nil { // dotted test names
		p.Consume()
		name = &tokens.Token{Type: tokens.Name, Val: name.Val + "." + p.Pop().Val, Line: name.Line, Col: name.Col, Pos: name.Pos}
	}
	test := &nodes.TestCall{Token: name, Name: name.Val, Args: []nodes.Expression{}, Kwargs: map[string]nodes.Expression{}}
	// `is in (1, 2)` takes the tuple as its one argument (upstream gonja's reading).
	if lp := p.Current(tokens.LeftParenthesis); lp != nil && name.Val != "in" {
		call, err := p.parseCall(nil, nil)
		if err != nil {
			return nil, err
		}
		test.Args, test.Kwargs = call.Args, call.Kwargs
	} else if cur := p.Current(tokens.Name, tokens.String, tokens.Integer, tokens.Float, tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace); cur != nil &&
		p.CurrentName("else", "if") == nil {
		arg, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		if arg, err = p.parsePostfix(arg); err != nil {
			return nil, err
		}
		test.Args = []nodes.Expression{arg}
	}
	var out nodes.Expression = &nodes.TestExpression{Expression: expr, Test: test}
	if not != nil {
		out = &nodes.Negation{Term: out, Operator: not}
	}
	return out, nil
}

// parseCall parses a call's argument list: positional, keyword, *args and **kwargs, in
// Jinja2's order, a trailing comma allowed.
func (p *Parser) parseCall(fn nodes.Expression, parent nodes.Node) (*nodes.Call, error) {
	lp := p.Match(tokens.LeftParenthesis)
	call := &nodes.Call{Location: lp, Func: fn, Args: []nodes.Expression{}, Kwargs: map[string]nodes.Expression{}, Parent: parent}
	first := true
	for p.Match(tokens.RightParenthesis) == nil {
		if !first && p.Match(tokens.Comma) == nil {
			return nil, p.Error("expected ',' or ')' in the call's arguments", p.currentOr(lp))
		}
		first = false
		if p.Match(tokens.RightParenthesis) != nil {
			break // trailing comma
		}
		switch {
		case p.Match(tokens.Power) != nil:
			if call.DynKwargs != nil {
				return nil, p.Error("only one **kwargs is allowed in a call", p.currentOr(lp))
			}
			expr, err := p.ParseExpression()
			if err != nil {
				return nil, err
			}
			call.DynKwargs = expr
		case p.Match(tokens.Multiply) != nil:
			if call.DynArgs != nil || call.DynKwargs != nil {
				return nil, p.Error("*args must come before **kwargs and only once in a call", p.currentOr(lp))
			}
			expr, err := p.ParseExpression()
			if err != nil {
				return nil, err
			}
			call.DynArgs = expr
		case p.Current(tokens.Name) != nil && p.Peek(tokens.Assign) != nil:
			key := p.Pop()
			p.Consume()
			if call.DynKwargs != nil {
				return nil, p.Error("keyword argument after **kwargs", key)
			}
			if _, dup := call.Kwargs[key.Val]; dup {
				return nil, p.Error("keyword argument repeated: "+key.Val, key)
			}
			value, err := p.ParseExpression()
			if err != nil {
				return nil, err
			}
			call.Kwargs[key.Val] = value
		default:
			if len(call.Kwargs) > 0 || call.DynArgs != nil || call.DynKwargs != nil {
				return nil, p.Error("positional argument follows keyword argument", p.currentOr(lp))
			}
			expr, err := p.ParseExpression()
			if err != nil {
				return nil, err
			}
			call.Args = append(call.Args, expr)
		}
	}
	return call, nil
}

// currentOr is the current token, else fallback (at the end of the tag).
func (p *Parser) currentOr(fallback *tokens.Token) *tokens.Token {
	if t := p.Current(); t != nil {
		return t
	}
	return fallback
}

// ParseVariableOrLiteral parses a primary with its postfix (attributes, items, calls),
// without filters: the target of {% set %} and a test's bare argument.
func (p *Parser) ParseVariableOrLiteral() (nodes.Expression, error) {
	primary, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	return p.parsePostfix(primary)
}

// ParseFilterExpression parses an optional filter chain after expr.
func (p *Parser) ParseFilterExpression(expr nodes.Expression) (nodes.Expression, error) {
	return p.parseFilterExpr(expr)
}

// ParseCondition is kept for the upstream API: conditional expressions are part of
// ParseExpression now, so a trailing `if` is never left for it.
func (p *Parser) ParseCondition() (nodes.Expression, nodes.Expression, error) {
	return nil, nil, nil
}

// ParseTest parses `is [not] name [arg]` after expr, if present.
func (p *Parser) ParseTest(expr nodes.Expression) (nodes.Expression, error) {
	if p.Current(tokens.Is) == nil {
		return expr, nil
	}
	return p.parseTestJ(expr)
}
