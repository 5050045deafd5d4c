package jobs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBackoffDoublesAndCaps(t *testing.T) {
	cases := []struct {
		attempts int
		want     time.Duration
	}{
		{0, 0},
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{9, 2560 * time.Second},
		{10, time.Hour},
		{50, time.Hour},
	}
	for _, c := range cases {
		if got := Backoff(c.attempts); got != c.want {
			t.Errorf("Backoff(%d) = %v, want %v", c.attempts, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Job{Kind: "send-mail", Payload: json.RawMessage(`{"to":"a@example.com"}`), MaxAttempts: 5}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid job refused: %v", err)
	}
	cases := map[string]Job{
		"job kind is empty":   {Payload: json.RawMessage(`{}`), MaxAttempts: 1},
		"not valid JSON":      {Kind: "k", Payload: json.RawMessage(`{`), MaxAttempts: 1},
		"max attempts":        {Kind: "k", Payload: json.RawMessage(`{}`), MaxAttempts: 0},
		"the limit is 64 KiB": {Kind: "k", Payload: json.RawMessage(`"` + strings.Repeat("x", 70000) + `"`), MaxAttempts: 1},
	}
	for want, job := range cases {
		err := job.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want an error containing %q", err, want)
		}
	}
}

func TestCallReportsUnknownKindAndPanics(t *testing.T) {
	p := NewPool(nil, 1, time.Second, nil)
	if err := p.call(&Job{Kind: "nope"}); err == nil || !strings.Contains(err.Error(), "no handler") {
		t.Fatalf("unknown kind: %v", err)
	}
	p.Handle("boom", func(*Job) error { panic("kaboom") })
	if err := p.call(&Job{Kind: "boom"}); err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("panic not turned into an error: %v", err)
	}
}

func TestStatsCopiesRunningJobs(t *testing.T) {
	p := NewPool(nil, 1, time.Second, nil)
	p.running[7] = time.Now().Add(-3 * time.Second)
	s := p.Stats()
	if s.Running[7] < 3 {
		t.Fatalf("running seconds = %d, want >= 3", s.Running[7])
	}
	delete(s.Running, 7)
	if _, ok := p.running[7]; !ok {
		t.Fatal("Stats returned the pool's own map")
	}
}
