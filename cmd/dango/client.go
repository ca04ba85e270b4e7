package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/dispatcher"
	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/service"
)

// serveFile is where a running dango serve tells the project's CLI how to reach it.
const serveFile = ".dango/serve.json"

type serveInfo struct {
	API  string `json:"api"`
	NATS string `json:"nats"`
	PID  int    `json:"pid"`
}

func writeServeInfo(p *config.Project, info serveInfo) error {
	data, _ := json.MarshalIndent(info, "", "  ")
	return os.WriteFile(filepath.Join(p.Root, serveFile), data, 0o644)
}

func removeServeInfo(p *config.Project) { os.Remove(filepath.Join(p.Root, serveFile)) }

// client talks to the dango serve running for a project.
type client struct {
	info  serveInfo
	token string
	http  *http.Client
}

// findServer returns a client when a dango serve for the project is alive and answering;
// nil means the CLI works on its own (a stale file is ignored).
func findServer(p *config.Project) *client {
	data, err := os.ReadFile(filepath.Join(p.Root, serveFile))
	if err != nil {
		return nil
	}
	var info serveInfo
	if json.Unmarshal(data, &info) != nil || info.PID <= 0 || syscall.Kill(info.PID, 0) != nil {
		return nil
	}
	c := &client{info: info, http: &http.Client{Timeout: 30 * time.Second}}
	if p.APITokenEnv != "" {
		if v, err := p.Secrets.Lookup(p.APITokenEnv); err == nil {
			c.token = v.Reveal()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if code, _, err := c.call(ctx, "GET", "/healthz", nil); err != nil || code != 200 {
		return nil
	}
	return c
}

// call sends a request and decodes the JSON reply into a map.
func (c *client) call(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var m map[string]any
	code, err := c.do(ctx, method, path, body, &m)
	return code, m, err
}

// do sends a request, with the token when there is one, and decodes the JSON reply into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.info.API+path, rd)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// submit posts a request that starts a run and returns its id; a refusal is a usage error.
func (c *client) submit(ctx context.Context, path string, body any) (string, error) {
	code, m, err := c.call(ctx, "POST", path, body)
	if err != nil {
		return "", failed(fmt.Errorf("dango serve at %s: %w", c.info.API, err))
	}
	if code != http.StatusAccepted {
		msg, _ := m["error"].(string)
		if code == http.StatusBadRequest {
			return "", usageErr(errors.New(msg))
		}
		return "", failed(fmt.Errorf("dango serve answered %d: %s", code, msg))
	}
	id, _ := m["run_id"].(string)
	return id, nil
}

// wait polls a run until it has finished.
func (c *client) wait(ctx context.Context, id string) (service.Run, error) {
	for {
		var r service.Run
		code, err := c.do(ctx, "GET", "/api/v1/runs/"+id, nil, &r)
		if err != nil {
			return service.Run{}, err
		}
		if code != http.StatusOK {
			return service.Run{}, fmt.Errorf("run %s: HTTP %d", id, code)
		}
		switch r.Status {
		case service.Success, service.Partial, service.Failed:
			return r, nil
		}
		select {
		case <-ctx.Done():
			return service.Run{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// syncEvents subscribes to the server's events before a sync is submitted, and after
// submit hands back those of the run until every source has finished.
func (c *client) syncEvents(ctx context.Context, sources []string, submit func() (string, error)) (<-chan events.Event, string, func(), error) {
	nc, err := nats.Connect(c.info.NATS, nats.Name("dango sync (client)"))
	if err != nil {
		return nil, "", nil, failed(fmt.Errorf("dango serve's NATS at %s: %w", c.info.NATS, err))
	}
	raw := make(chan *nats.Msg, 8192)
	sub, err := nc.ChanSubscribe(events.AllEvents, raw)
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, "", nil, failed(err)
	}
	id, err := submit()
	if err != nil {
		nc.Close()
		return nil, "", nil, err
	}
	out := dispatcher.Follow(ctx, raw, id, sources, func() { sub.Unsubscribe() })
	return out, id, nc.Close, nil
}
