package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Pool runs claimed jobs on a fixed number of workers.
type Pool struct {
	store    *Store
	handlers map[string]Handler
	workers  int
	idle     time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	running map[int64]time.Time // job id -> when it started, for the status page

	processed int64
	failed    int64
}

// NewPool returns a pool of n workers that polls every idle interval when the queue is empty.
func NewPool(store *Store, n int, idle time.Duration, log *slog.Logger) *Pool {
	return &Pool{
		store:    store,
		handlers: make(map[string]Handler),
		workers:  n,
		idle:     idle,
		log:      log,
		running:  make(map[int64]time.Time),
	}
}

// Handle registers the handler for jobs of kind. Call before Run.
func (p *Pool) Handle(kind string, h Handler) {
	p.handlers[kind] = h
}

// Run starts the workers and blocks until ctx is done and every worker has returned.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < p.workers; i++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			p.work(ctx, n)
		}(i)
	}
	wg.Wait()
}

func (p *Pool) work(ctx context.Context, n int) {
	log := p.log.With("worker", n)
	for {
		if ctx.Err() != nil {
			return
		}
		job, err := p.store.Claim(ctx)
		if err != nil {
			log.Error("claim failed", "err", err)
		}
		if job == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.idle):
			}
			continue
		}
		p.runOne(ctx, log, job)
	}
}

func (p *Pool) runOne(ctx context.Context, log *slog.Logger, job *Job) {
	p.mu.Lock()
	p.running[job.ID] = time.Now()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.running, job.ID)
		p.mu.Unlock()
	}()

	err := p.call(job)
	p.processed++
	if err != nil {
		p.failed++
		log.Warn("job failed", "id", job.ID, "kind", job.Kind, "attempt", job.Attempts, "err", err)
	}
	if ferr := p.store.Finish(context.WithoutCancel(ctx), job, err); ferr != nil {
		log.Error("could not record job outcome", "id", job.ID, "err", ferr)
	}
}

// call runs the job's handler, turning a panic into an error so one bad job cannot stop a worker.
func (p *Pool) call(job *Job) (err error) {
	h, ok := p.handlers[job.Kind]
	if !ok {
		return fmt.Errorf("no handler for job kind %q", job.Kind)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(job)
}

// Stats is a snapshot for the status page.
type Stats struct {
	Processed int64           `json:"processed"`
	Failed    int64           `json:"failed"`
	Running   map[int64]int64 `json:"running_seconds"`
}

// Stats returns the counters and how long each running job has been running.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := make(map[int64]int64, len(p.running))
	for id, started := range p.running {
		running[id] = int64(time.Since(started).Seconds())
	}
	return Stats{Processed: p.processed, Failed: p.failed, Running: running}
}
