package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeGoogle checks the service account's JWT signature at the token endpoint, then serves a
// spreadsheet with two sheets.
func fakeGoogle(t *testing.T, pub *rsa.PublicKey) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.FormValue("assertion"), ".")
		if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || len(parts) != 3 {
			w.WriteHeader(400)
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
			w.WriteHeader(401)
			return
		}
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if !strings.Contains(string(claims), "spreadsheets.readonly") {
			w.WriteHeader(403)
			return
		}
		fmt.Fprint(w, `{"access_token": "ya29.test-token", "expires_in": 3600}`)
	})
	mux.HandleFunc("/v4/spreadsheets/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ya29.test-token" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error": {"message": "Request had invalid authentication credentials."}}`)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/values/Budget 2024"):
			json.NewEncoder(w).Encode(map[string]any{"values": [][]any{
				{"Channel", "Month", "Budget", "Approved"},
				{"Search", "2024-01-01", 1200.5, true},
				{"Social", "2024-02-01", 800, false},
				{"", "", "", ""},
			}})
		case strings.HasSuffix(r.URL.Path, "/values/Targets"):
			json.NewEncoder(w).Encode(map[string]any{"values": [][]any{{"Region", "Target"}, {"North", 10}, {"South", 12}}})
		case strings.HasSuffix(r.URL.Path, "/sheet123"):
			fmt.Fprint(w, `{"properties": {"title": "Marketing"}, "sheets": [{"properties": {"title": "Budget 2024"}}, {"properties": {"title": "Targets"}}]}`)
		default:
			w.WriteHeader(404)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestGoogleSheetsServiceAccount(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	srv := fakeGoogle(t, &key.PublicKey)
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "loader@project.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": srv.URL + "/token"})
	dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: marketing
    type: google_sheets
    google_sheets:
      spreadsheet_url_or_id: https://docs.google.com/spreadsheets/d/sheet123/edit#gid=0
      credentials_env: GOOGLE_SA_KEY
      requests_per_second: 50
      api_base: %s
`, srv.URL))
	t.Setenv("GOOGLE_SA_KEY", string(sa))
	r := dango(t, dir, "sync")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"Connecting to Google Sheets API", "Fetching spreadsheet: Marketing", "Loaded 4 rows from 2 sheets",
		"Writing to raw_marketing.budget_2024", "Writing to raw_marketing.targets"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	types := scalar(t, dir, "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'raw_marketing' AND table_name = 'budget_2024' AND column_name NOT LIKE '\\_dlt%' ESCAPE '\\'")
	if types != "approved BOOLEAN, budget DOUBLE, channel VARCHAR, month DATE" {
		t.Errorf("column types: %s", types)
	}
	if got := scalar(t, dir, "SELECT sum(target) FROM raw_marketing.targets"); got != "22" {
		t.Errorf("targets = %s", got)
	}
	// A sheet is a snapshot: a second sync replaces it.
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_marketing.budget_2024"); got != "2" {
		t.Errorf("after a second sync budget rows = %s", got)
	}
	if strings.Contains(r.stdout+r.stderr, "ya29.test-token") {
		t.Fatal("the access token appears in the output")
	}
}
