package restapi

import (
	"net/http"
	"strconv"

	"github.com/dangohq/dango/config"
)

// baseURL is client.base_url, or dango's older top-level base_url.
func baseURL(s config.Values) string {
	if c, ok := asMap(s["client"]); ok {
		if b := config.Values(c).String("base_url"); b != "" {
			return b
		}
	}
	return s.String("base_url")
}

// newAuth builds credentials from dlt's auth config (type defaults to bearer, as in dlt).
func newAuth(m map[string]any, httpc *http.Client) Auth {
	a := config.Values(m)
	switch a.String("type") {
	case "", "bearer":
		return bearerAuth{token: a.String("token")}
	case "api_key":
		name, loc := a.String("name"), a.String("location")
		if name == "" {
			name = "Authorization"
		}
		if loc == "param" {
			loc = "query"
		}
		return apiKeyAuth{name: name, value: a.String("api_key"), location: loc}
	case "basic", "http_basic":
		return basicAuth{user: a.String("username"), password: a.String("password")}
	case "oauth2_client_credentials":
		o := &oauth2Auth{tokenURL: a.String("token_url"), clientID: a.String("client_id"), secret: a.String("client_secret"),
			scope: a.String("scope"), http: TokenClient(httpc), defaultExpiry: 3600}
		if u := a.String("access_token_url"); u != "" {
			o.tokenURL, o.inBody = u, true // dlt sends the client credentials in the form body
		}
		if a.Has("default_token_expiration") {
			o.defaultExpiry = int(a.Int("default_token_expiration"))
		}
		if t := a.String("access_token"); t != "" {
			config.RegisterSecret(t) // as in dlt, it counts as expired at once: a token is fetched first
		}
		if extra, ok := asMap(a["access_token_request_data"]); ok {
			o.extra = map[string]string{}
			for k, v := range extra {
				switch x := v.(type) {
				case int:
					o.extra[k] = strconv.Itoa(x)
				default:
					o.extra[k] = config.Values{"v": v}.String("v")
				}
			}
		}
		return o
	}
	return noAuth{}
}
