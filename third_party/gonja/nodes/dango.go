package nodes

import (
	"fmt"

	"github.com/nikolalohinski/gonja/v2/tokens"
)

// CondExpr is Jinja2's conditional expression `a if test else b`; Expr2 is nil when the
// else branch is left out, and the expression is then undefined when the test is false.
type CondExpr struct {
	Location *tokens.Token
	Test     Expression
	Expr1    Expression
	Expr2    Expression
}

func (c *CondExpr) Position() *tokens.Token { return c.Location }
func (c *CondExpr) String() string {
	return fmt.Sprintf("(%s if %s else %s)", c.Expr1, c.Test, c.Expr2)
}

// Const is an already evaluated value, used to splice *args/**kwargs into a call.
type Const struct {
	Location *tokens.Token
	Val      any
}

func (c *Const) Position() *tokens.Token { return c.Location }
func (c *Const) String() string          { return fmt.Sprintf("%v", c.Val) }
