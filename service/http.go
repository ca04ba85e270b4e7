package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
)

// Hook is a webhook with its resolved secret.
type Hook struct {
	Secret []byte
	Sync   []string
	Run    bool
}

// Webhook signatures: X-Dango-Timestamp is the request's unix time, X-Dango-Signature is
// "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<raw body>" under the hook's secret.
const (
	HeaderTimestamp = "X-Dango-Timestamp"
	HeaderSignature = "X-Dango-Signature"
	hookWindow      = 5 * time.Minute
	maxHookBody     = 1 << 20
	maxAPIBody      = 1 << 20
)

// Sign returns the X-Dango-Signature value for a body sent at ts (for clients and tests).
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// API serves the HTTP interface: /api/v1 (bearer token when Token is set), /hooks, /healthz
// and /metrics.
type API struct {
	S     *Service
	Token string
	Hooks map[string]Hook

	mu     sync.Mutex
	seenKV jetstream.KeyValue // webhook signatures used (see use)
}

// Handler returns the routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "project": a.S.Project.Name})
	})
	mux.Handle("GET /metrics", a.auth(http.HandlerFunc(a.metrics)))
	mux.Handle("POST /api/v1/sync", a.auth(http.HandlerFunc(a.postSync)))
	mux.Handle("POST /api/v1/run", a.auth(http.HandlerFunc(a.postRun)))
	mux.Handle("GET /api/v1/runs/{id}", a.auth(http.HandlerFunc(a.getRun)))
	mux.Handle("GET /api/v1/runs", a.auth(http.HandlerFunc(a.listRuns)))
	mux.Handle("POST /api/v1/generate", a.auth(http.HandlerFunc(a.postGenerate)))
	mux.HandleFunc("POST /hooks/{name}", a.hook)
	return mux
}

func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dango"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	if m, ok := v.(map[string]string); ok && m["error"] != "" {
		m["error"] = config.Redact(m["error"])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads a JSON body into v, rejecting unknown fields (a typo should not silently
// sync everything).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body over 1 MB"})
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON body: " + err.Error()})
		return false
	}
	return true
}

func (a *API) submitted(w http.ResponseWriter, run *Run, err error) {
	var bad *BadRequest
	switch {
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		w.Header().Set("Location", "/api/v1/runs/"+run.ID)
		writeJSON(w, http.StatusAccepted, map[string]string{"run_id": run.ID})
	}
}

func (a *API) postSync(w http.ResponseWriter, r *http.Request) {
	var req SyncRequest
	if !decode(w, r, &req) {
		return
	}
	run, err := a.S.SubmitSync(req, "api")
	a.submitted(w, run, err)
}

func (a *API) postRun(w http.ResponseWriter, r *http.Request) {
	var req RunRequest
	if !decode(w, r, &req) {
		return
	}
	run, err := a.S.SubmitRun(req, "api")
	a.submitted(w, run, err)
}

// postGenerate regenerates staging models (edited ones kept) for the named sources, or all,
// and answers when done: {"sources": [...], "files_written": N}.
func (a *API) postGenerate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Sources []string `json:"sources"`
	}
	if !decode(w, r, &req) {
		return
	}
	names := req.Sources
	if len(names) == 0 {
		for _, s := range a.S.Project.Sources {
			names = append(names, s.Name)
		}
	}
	total := 0
	for _, n := range names {
		if _, ok := a.S.Project.Source(n); !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown source " + n})
			return
		}
	}
	for _, n := range names {
		written, err := a.S.Generate(n)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": n + ": " + err.Error()})
			return
		}
		total += written
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": names, "files_written": total})
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	run, ok := a.S.Get(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no run " + r.PathValue("id")})
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"runs": a.S.Runs()})
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	pending := func(stream string) int64 {
		if st, err := a.S.Node.Bus.JS.Stream(ctx, stream); err == nil {
			if info, err := st.Info(ctx); err == nil {
				return int64(info.State.Msgs)
			}
		}
		return -1
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	a.S.metrics.write(w, pending(events.StreamJobs), pending(events.StreamBatches))
}

// use records a signature as used, reporting whether it already was. The record lives in
// JetStream for twice the window, so a restarted server (or another) refuses it too.
func (a *API) use(ctx context.Context, sig string) (bool, error) {
	a.mu.Lock()
	if a.seenKV == nil {
		kv, err := a.S.Node.Bus.SeenStore(ctx, 2*hookWindow)
		if err != nil {
			a.mu.Unlock()
			return false, err
		}
		a.seenKV = kv
	}
	kv := a.seenKV
	a.mu.Unlock()
	sum := sha256.Sum256([]byte(sig))
	_, err := kv.Create(ctx, hex.EncodeToString(sum[:]), nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true, nil
	}
	return false, err
}

// hook verifies a webhook request and queues what the hook says. Anything not signed right,
// stale or replayed gets 401 and queues nothing.
func (a *API) hook(w http.ResponseWriter, r *http.Request) {
	deny := func(why string) {
		a.S.Log.Warn().Str("hook", r.PathValue("name")).Str("remote", r.RemoteAddr).Msg("webhook rejected: " + why)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body over 1 MB"})
		return
	}
	h, ok := a.Hooks[r.PathValue("name")]
	if !ok {
		deny("no such webhook")
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		deny("missing or malformed " + HeaderTimestamp)
		return
	}
	now := time.Now()
	if d := now.Sub(time.Unix(ts, 0)); d > hookWindow || d < -hookWindow {
		deny("timestamp outside the 5-minute window")
		return
	}
	sig := r.Header.Get(HeaderSignature)
	if !hmac.Equal([]byte(sig), []byte(Sign(h.Secret, ts, body))) {
		deny("bad signature")
		return
	}
	if used, err := a.use(r.Context(), sig); err != nil {
		a.S.Log.Error().Err(err).Msg("webhook signature store")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "cannot check for replays right now; retry"})
		return
	} else if used {
		deny("replayed signature")
		return
	}

	trigger := "webhook:" + r.PathValue("name")
	var run *Run
	if len(h.Sync) > 0 {
		run, err = a.S.SubmitSync(SyncRequest{Sources: h.Sync, Run: h.Run}, trigger)
	} else {
		run, err = a.S.SubmitRun(RunRequest{}, trigger)
	}
	a.submitted(w, run, err)
}
