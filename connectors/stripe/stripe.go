// Package stripe is `type: stripe`: Stripe's API as a specification over the REST engine —
// list endpoints paginated with has_more and starting_after, incremental on `created`
// through created[gte], objects merged by id.
package stripe

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/connectors/restapi"
)

// Endpoints are the list endpoints dango knows; any other name is requested as /v1/<name>.
// events and accounts are among those dlt's verified Stripe source loads.
var Endpoints = []string{"charges", "customers", "subscriptions", "invoices", "products", "prices",
	"payment_intents", "balance_transactions", "refunds", "disputes", "payouts", "coupons", "plans",
	"events", "accounts"}

// extraParams are query parameters an endpoint needs to list every object: Stripe lists only
// subscriptions that are not canceled unless asked for status=all (dlt's source asks too).
var extraParams = map[string]map[string]any{"subscriptions": {"status": "all"}}

// Spec is the stripe block of sources.yml.
var Spec = config.Spec{Type: "stripe", Summary: "Stripe: the listed endpoints land in raw_<name>.<endpoint>, nested objects flattened, incremental on `created`.",
	Fields: []config.Field{
		{Name: "stripe_secret_key", Kind: config.String, Required: true, Doc: "Secret key; give it as stripe_secret_key_env naming a variable.", Example: "stripe_secret_key_env: STRIPE_API_KEY"},
		{Name: "endpoints", Kind: config.StringList, Default: []string{"charges", "customers", "subscriptions"}, Doc: "List endpoints to load: " + strings.Join(Endpoints, ", ") + "."},
		{Name: "start_date", Kind: config.String, Doc: "Load objects created on or after this date (YYYY-MM-DD, or an ISO 8601 timestamp) on the first sync. Sent to Stripe as unix seconds (created[gte]); cursors are shown as dates."},
		{Name: "rate_limit_delay", Kind: config.Float, Doc: "Seconds between requests."},
		{Name: "requests_per_second", Kind: config.Float, Default: 20.0, Doc: "Most requests per second (Stripe allows 25 in live mode)."},
		{Name: "api_base", Kind: config.String, Default: "https://api.stripe.com", Doc: "API host; point it at stripe-mock or a proxy."},
		{Name: "max_retry_time", Kind: config.String, Default: "5m", Doc: "How long one request may keep retrying."},
		{Name: "timeout", Kind: config.String, Default: "60s", Doc: "Per-request timeout (a reply must be complete within it)."},
		{Name: "max_response_size", Kind: config.String, Default: "100MB", Doc: "Largest reply accepted."},
		{Name: "allow_cross_host", Kind: config.Bool, Default: false, Doc: "Follow redirects to another host than api_base's, without the secret key. Off: such a redirect fails."},
	}}

func init() {
	connectors.Default.Register(connectors.Registration{Spec: Spec, New: New})
}

// New builds a REST connector for the configured endpoints.
func New(job connectors.Job) (connectors.Connector, error) {
	s := job.Source.Settings
	key, ok := s.Secret("stripe_secret_key")
	if !ok {
		key = config.Secret(s.String("stripe_secret_key"))
	}
	initial := ""
	if d := s.String("start_date"); d != "" {
		u, err := toUnix(d)
		if err != nil {
			return nil, fmt.Errorf("source %s: start_date %q: want YYYY-MM-DD or an ISO 8601 timestamp", job.Source.Name, d)
		}
		initial = u
	}
	// Stripe takes created[gte] in unix seconds and its objects carry `created` as unix
	// seconds, so the cursor stays in that form (as dlt's state keeps it): --start-date is
	// converted here, and the console shows dates.
	if job.StartDate != "" {
		u, err := toUnix(job.StartDate)
		if err != nil {
			return nil, fmt.Errorf("source %s: --start-date %q: want YYYY-MM-DD", job.Source.Name, job.StartDate)
		}
		job.StartDate = u
	}
	if len(job.State.Cursors) > 0 { // a cursor stored as a date (by hand, or an older dango)
		cursors := make(map[string]string, len(job.State.Cursors))
		for r, v := range job.State.Cursors {
			if u, err := toUnix(v); err == nil {
				v = u
			}
			cursors[r] = v
		}
		job.State.Cursors = cursors
	}
	job.ShowCursor = showUnix
	var resources []any
	for _, ep := range s.Strings("endpoints") {
		params := map[string]any{"limit": "100", "created[gte]": "{incremental.start_value}"}
		for k, v := range extraParams[ep] {
			params[k] = v
		}
		resources = append(resources, map[string]any{
			"name": ep, "path": "/" + ep, "data_selector": "data",
			"params":            params,
			"paginator":         map[string]any{"type": "last_id", "param": "starting_after", "id_field": "id"},
			"primary_key":       "id",
			"write_disposition": "merge",
			"incremental":       map[string]any{"cursor_column": "created", "initial_value": initial},
		})
	}
	rest := config.Values{
		"base_url":          strings.TrimRight(s.String("api_base"), "/") + "/v1",
		"auth":              config.Values{"type": "bearer", "token": key.Reveal()},
		"timeout":           or(s.String("timeout"), "60s"),
		"max_retry_time":    s.String("max_retry_time"),
		"max_response_size": s.String("max_response_size"),
		"allow_cross_host":  s.Bool("allow_cross_host"),
		"resources":         resources,
	}
	if s.Float("rate_limit_delay") > 0 {
		rest["rate_limit_delay"] = s.Float("rate_limit_delay")
	} else {
		rest["requests_per_second"] = s.Float("requests_per_second")
	}
	c, err := restapi.New(job, rest)
	if err != nil {
		return nil, err
	}
	return &connector{Connector: c}, nil
}

type connector struct{ *restapi.Connector }

func (c *connector) Extract(ctx context.Context, out connectors.Emitter) error {
	out.Logf("Connecting to Stripe API")
	return c.Connector.Extract(ctx, out)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// toUnix reads a date (YYYY-MM-DD), an ISO 8601 timestamp or unix seconds as unix seconds.
func toUnix(v string) (string, error) {
	v = strings.TrimSpace(v)
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return strconv.FormatInt(t.Unix(), 10), nil
		}
	}
	return "", fmt.Errorf("not a date: %q", v)
}

// showUnix shows unix seconds as a date (midnight UTC) or an ISO 8601 timestamp in UTC.
func showUnix(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	t := time.Unix(n, 0).UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02T15:04:05Z")
}
