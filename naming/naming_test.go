package naming

import (
	"reflect"
	"testing"
)

func TestSnake(t *testing.T) {
	cases := map[string]string{
		"Order ID":       "order_id",
		"CustomerName":   "customer_name",
		"customerName":   "customer_name",
		"HTTPRequest":    "http_request",
		"ID":             "id",
		"already_snake":  "already_snake",
		"  Amount ($)  ": "amount",
		"2024 revenue":   "_2024_revenue",
		"a--b__c":        "a_b_c",
		"Ünïcode Näme":   "ünïcode_näme",
		"":               "_",
		"$$$":            "_",
		"userID2":        "user_id2",
		"Quantity":       "quantity",
		"e-mail address": "e_mail_address",
		"_private":       "_private",
		"__x":            "_x",
	}
	for in, want := range cases {
		if got := Snake(in); got != want {
			t.Errorf("Snake(%q) = %q, want %q", in, got, want)
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
