package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestShouldRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	netErr := &url.Error{Op: "Post", URL: "x", Err: errors.New("connection reset")}
	cases := []struct {
		name string
		ctx  context.Context
		code int
		err  error
		want bool
	}{
		{"ok", ctx, 200, nil, false},
		{"client error", ctx, 400, nil, false},
		{"429", ctx, 429, nil, true},
		{"503", ctx, 503, nil, true},
		{"501", ctx, 501, nil, false},
		{"network", ctx, 0, netErr, true},
		{"create 503", NoReplay(ctx), 503, nil, false},
		{"create network", NoReplay(ctx), 0, netErr, false},
		{"create 429", NoReplay(ctx), 429, nil, true},
		{"cancelled", cancelled, 503, nil, false},
	}
	for _, c := range cases {
		var resp *http.Response
		if c.err == nil {
			resp = &http.Response{StatusCode: c.code}
		}
		if got, _ := ShouldRetry(c.ctx, resp, c.err); got != c.want {
			t.Errorf("%s: retry = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestWaitFromHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(3 * time.Second).Format(http.TimeFormat)}}, 3 * time.Second, true},
		{http.Header{"X-Ratelimit-Reset": {"1767225605"}}, 5*time.Second + 50*time.Millisecond, true},
		{http.Header{"X-Ratelimit-Reset": {"1767225500"}}, 50 * time.Millisecond, true},
		{http.Header{"Retry-After": {"soon"}}, 0, false},
		{http.Header{}, 0, false},
	}
	for _, c := range cases {
		got, ok := WaitFromHeaders(c.h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("%v: got %v %v, want %v %v", c.h, got, ok, c.want, c.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Backoff(func() time.Time { return now })
	limited := &http.Response{StatusCode: 429, Header: http.Header{"X-Ratelimit-Reset": {"1767225608"}}}
	if got := b(time.Second, 20*time.Second, 0, limited); got != 8*time.Second+50*time.Millisecond {
		t.Errorf("429 waits %v, want until the reset", got)
	}
	unavailable := &http.Response{StatusCode: 503, Header: http.Header{"X-Ratelimit-Reset": {"1767225608"}}}
	if got := b(time.Second, 20*time.Second, 0, unavailable); got > 2*time.Second {
		t.Errorf("503 waited %v for a rate-limit reset; only 429s should", got)
	}
	for attempt := 0; attempt < 10; attempt++ {
		if got := b(time.Second, 20*time.Second, attempt, nil); got < time.Second || got > 20*time.Second {
			t.Errorf("attempt %d: %v outside [1s, 20s]", attempt, got)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://user:pw@x.test/a?access_token=secret&q=1")
	if got := Redact(u); got != "https://x.test/a?access_token=xxxxx&q=1" {
		t.Errorf("Redact = %s", got)
	}
}

func FuzzWaitFromHeaders(f *testing.F) {
	f.Add("7", "1767225605")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "")
	f.Fuzz(func(t *testing.T, ra, reset string) {
		d, ok := WaitFromHeaders(http.Header{"Retry-After": {ra}, "X-Ratelimit-Reset": {reset}}, time.Unix(1767225600, 0))
		if ok && d < 0 {
			t.Fatalf("negative wait %v", d)
		}
	})
}
