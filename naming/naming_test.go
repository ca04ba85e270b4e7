package naming

import (
	"reflect"
	"testing"
)

// TestSnake pins notable cases; the expected names were produced by dlt 1.31
// (testdata/dlt_normalize.py), and TestSnakeMatchesDlt checks a corpus of over a thousand.
func TestSnake(t *testing.T) {
	cases := map[string]struct{ identifier, snake string }{
		"Order ID":       {"order_id", "order_id"},
		"CustomerName":   {"customer_name", "customer_name"},
		"HTTPRequest":    {"http_request", "http_request"},
		"  Amount ($)  ": {"amountx", "amountx"},
		"2024 revenue":   {"_2024_revenue", "_2024_revenue"},
		"a--b__c":        {"a_b_c", "a_b__c"},
		"Ünïcode Näme":   {"_n_code_n_me", "_n_code_n_me"},
		"":               {"_empty", "_empty"},
		"$$$":            {"x", "x"},
		"userID2":        {"user_id2", "user_id2"},
		"e-mail address": {"e_mail_address", "e_mail_address"},
		"_private":       {"_private", "_private"},
		"__x":            {"_x", "x"},
		"+1":             {"x1", "x1"},
		"-1":             {"_1", "_1"},
		"reactions__+1":  {"reactions_x1", "reactions__x1"},
		"Amount$":        {"amountx", "amountx"},
		"__DunderName__": {"_dunder_namexx", "dunder_name"},
		"a___b":          {"a_b", "a___b"},
		"C++":            {"cxx", "cxx"},
		"user@domain":    {"useradomain", "useradomain"},
	}
	for in, want := range cases {
		if got := Identifier(in); got != want.identifier {
			t.Errorf("Identifier(%q) = %q, want %q", in, got, want.identifier)
		}
		if got := Snake(in); got != want.snake {
			t.Errorf("Snake(%q) = %q, want %q", in, got, want.snake)
		}
	}
}

func TestUnique(t *testing.T) {
	var snaked []string
	for _, n := range []string{"Order ID", "order_id", "ORDER-ID", "name"} {
		snaked = append(snaked, Snake(n))
	}
	got := Unique(snaked)
	want := []string{"order_id", "order_id_2", "order_id_3", "name"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Columns = %v, want %v", got, want)
	}
}

func TestQuoting(t *testing.T) {
	if got := Quote(`we"ird`); got != `"we""ird"` {
		t.Fatal(got)
	}
	if got := Literal(`it's`); got != `'it''s'` {
		t.Fatal(got)
	}
}
