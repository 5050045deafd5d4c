package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is where a job is in its life.
type State string

const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Dead      State = "dead"
)

// ErrNoJob is returned when no job with the given id exists.
var ErrNoJob = errors.New("no such job")

// Job is one unit of background work.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload"`
	State       State           `json:"state"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	LastError   string          `json:"last_error,omitempty"`
	RunAfter    time.Time       `json:"run_after"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Handler executes jobs of one kind. A returned error makes the job retry (until MaxAttempts).
type Handler func(job *Job) error

// Backoff is the pause before attempt n+1 after n failed attempts: 10s, 20s, 40s, ... capped at
// one hour.
func Backoff(attempts int) time.Duration {
	if attempts < 1 {
		return 0
	}
	d := 10 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	if d > time.Hour {
		d = time.Hour
	}
	return d
}

// Validate checks a job before it is queued.
func (j *Job) Validate() error {
	if j.Kind == "" {
		return fmt.Errorf("job kind is empty")
	}
	if len(j.Payload) > 64<<10 {
		return fmt.Errorf("job payload is %d bytes, the limit is 64 KiB", len(j.Payload))
	}
	if !json.Valid(j.Payload) {
		return fmt.Errorf("job payload is not valid JSON")
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > 25 {
		return fmt.Errorf("max attempts must be 1-25, not %d", j.MaxAttempts)
	}
	return nil
}
