package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/node"
)

// InfoFile is where a running dango serve tells the project's CLI how to reach it. It holds
// no secret (the token lives in TokenFile, mode 0600), so it may stay world-readable.
const InfoFile = ".dango/serve.json"

type Info struct {
	API  string `json:"api"`
	NATS string `json:"nats"`
	PID  int    `json:"pid"`
}

// WriteInfo writes the file, without credentials: a NATS URL's user and password (or token)
// stay out of it, so a CLI reaching a server whose NATS needs them follows runs through the
// HTTP API instead (see FollowSync).
func WriteInfo(p *config.Project, info Info) error {
	info.NATS = withoutCredentials(info.NATS)
	data, _ := json.MarshalIndent(info, "", "  ")
	return os.WriteFile(filepath.Join(p.Root, InfoFile), data, 0o644)
}

func RemoveInfo(p *config.Project) { os.Remove(filepath.Join(p.Root, InfoFile)) }

// Client talks to the dango serve running for a project.
type Client struct {
	Info  Info
	token string
	nats  events.Credentials // the trigger identity, to follow the server's events
	http  *http.Client
}

// FindServer returns a client when a dango serve for the project is alive and answering;
// nil means the CLI works on its own (a stale file is ignored).
func FindServer(p *config.Project) *Client {
	data, err := os.ReadFile(filepath.Join(p.Root, InfoFile))
	if err != nil {
		return nil
	}
	var info Info
	if json.Unmarshal(data, &info) != nil || info.PID <= 0 || syscall.Kill(info.PID, 0) != nil {
		return nil
	}
	c := &Client{Info: info, http: &http.Client{Timeout: 30 * time.Second}}
	// The token file is the server's own; api_token_env is the fallback when it is unreadable.
	if tok, err := ReadToken(p.Root); err == nil {
		c.token = tok
	} else if p.APITokenEnv != "" {
		if v, err := p.Secrets.Lookup(p.APITokenEnv); err == nil {
			c.token = v.Reveal()
		}
	}
	c.nats, _, _ = node.Credentials(p, events.RoleTrigger)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	code, _, err := c.Call(ctx, "GET", "/healthz", nil)
	if errors.Is(err, ErrUnauthorized) {
		return c // it is running but refuses our token: say so rather than wait for its lock
	}
	if err != nil || code != 200 {
		return nil
	}
	return c
}

// Call sends a request and decodes the JSON reply into a map.
func (c *Client) Call(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var m map[string]any
	code, err := c.do(ctx, method, path, body, &m)
	return code, m, err
}

// ErrUnauthorized means dango serve refused the client's token.
var ErrUnauthorized = errors.New("dango serve refused the API token (" + TokenFile + "): if it was rotated, retry; if it is missing or unreadable here, run the command as the user who runs dango serve")

// do sends a request, with the token when there is one, and decodes the JSON reply into out.
// A POST always carries a JSON body ({} when there is none): the API requires one.
func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body == nil && method == http.MethodPost {
		body = struct{}{}
	}
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode the request to dango serve: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Info.API+path, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, ErrUnauthorized
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// Submit posts a request that starts a run and returns its id; a refusal is a *BadRequest.
func (c *Client) Submit(ctx context.Context, path string, body any) (string, error) {
	code, m, err := c.Call(ctx, "POST", path, body)
	if err != nil {
		return "", fmt.Errorf("dango serve at %s: %w", c.Info.API, err)
	}
	if code != http.StatusAccepted {
		msg, _ := m["error"].(string)
		if code == http.StatusBadRequest {
			return "", &BadRequest{errors.New(msg)}
		}
		return "", fmt.Errorf("dango serve answered %d: %s", code, msg)
	}
	id, _ := m["run_id"].(string)
	return id, nil
}

// Wait polls a run until it has finished.
func (c *Client) Wait(ctx context.Context, id string) (Run, error) {
	for {
		var r Run
		code, err := c.do(ctx, "GET", "/api/v1/runs/"+id, nil, &r)
		if err != nil {
			return Run{}, err
		}
		if code != http.StatusOK {
			return Run{}, fmt.Errorf("run %s: HTTP %d", id, code)
		}
		switch r.Status {
		case Success, Partial, Failed:
			return r, nil
		}
		select {
		case <-ctx.Done():
			return Run{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FollowSync subscribes to the server's events before a sync is submitted, and after
// submit hands back those of the run until every source has finished.
func (c *Client) FollowSync(ctx context.Context, sources []string, submit func() (string, error)) (<-chan events.Event, string, func(), error) {
	nc, err := events.Dial(c.Info.NATS, "dango sync (client)", events.RoleTrigger, c.nats)
	if err != nil {
		// serve.json carries no NATS credentials: without the events, follow the run
		// through the API, reporting each source's end.
		return c.pollSync(ctx, submit)
	}
	raw := make(chan *nats.Msg, 8192)
	sub, err := nc.ChanSubscribe(events.AllEvents, raw)
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, "", nil, err
	}
	id, err := submit()
	if err != nil {
		nc.Close()
		return nil, "", nil, err
	}
	out := dispatcher.Follow(ctx, raw, id, sources, func() { sub.Unsubscribe() })
	return out, id, nc.Close, nil
}

// pollSync submits the sync and reports its sources' ends from the run record.
func (c *Client) pollSync(ctx context.Context, submit func() (string, error)) (<-chan events.Event, string, func(), error) {
	id, err := submit()
	if err != nil {
		return nil, "", nil, err
	}
	out := make(chan events.Event, 64)
	go func() {
		defer close(out)
		r, err := c.Wait(ctx, id)
		if err != nil {
			return
		}
		for _, sr := range r.Sources {
			e := events.Event{Type: events.SyncCompleted, RunID: id, Source: sr.Source, Time: time.Now(), Rows: sr.Rows, DurationMS: sr.DurationMS}
			if sr.Status != Success {
				e.Type, e.Error = events.SyncFailed, sr.Error
			}
			out <- e
		}
	}()
	return out, id, func() {}, nil
}

// withoutCredentials drops the user information of each comma-separated URL.
func withoutCredentials(urls string) string {
	if urls == "" {
		return ""
	}
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = config.Redact(p)
			continue
		}
		u.User = nil
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
