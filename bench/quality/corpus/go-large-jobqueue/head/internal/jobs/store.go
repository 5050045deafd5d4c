package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Store keeps jobs in PostgreSQL.
type Store struct {
	db *sql.DB
}

// NewStore returns a Store on db.
func NewStore(db *sql.DB) *Store {
	return &Store{db: db}
}

// Enqueue inserts a validated job and returns its id.
func (s *Store) Enqueue(ctx context.Context, j *Job) (int64, error) {
	if err := j.Validate(); err != nil {
		return 0, err
	}
	var id int64
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at)
		 VALUES ($1, $2, 'queued', 0, $3, $4, now(), now()) RETURNING id`,
		j.Kind, []byte(j.Payload), j.MaxAttempts, j.RunAfter,
	).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", j.Kind, err)
	}
	return id, nil
}

// Claim takes the oldest runnable job and marks it running, or returns nil when there is none.
// SKIP LOCKED lets many workers claim at once without waiting on each other.
func (s *Store) Claim(ctx context.Context) (*Job, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	row := tx.QueryRowContext(ctx,
		`SELECT id, kind, payload, state, attempts, max_attempts, coalesce(last_error, ''),
		        run_after, created_at, updated_at
		   FROM jobs
		  WHERE state = 'queued' AND run_after <= now()
		  ORDER BY run_after, id
		  LIMIT 1
		  FOR UPDATE SKIP LOCKED`)
	j, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = now() WHERE id = $1`,
		j.ID); err != nil {
		return nil, err
	}
	j.State = Running
	j.Attempts++
	return j, tx.Commit()
}

// Finish records the outcome of a run: success, a retry after backoff, or dead.
func (s *Store) Finish(ctx context.Context, j *Job, runErr error) error {
	if runErr == nil {
		_, err := s.db.ExecContext(ctx,
			`UPDATE jobs SET state = 'succeeded', last_error = NULL, updated_at = now() WHERE id = $1`,
			j.ID)
		return err
	}
	state := Queued
	if j.Attempts >= j.MaxAttempts {
		state = Dead
	}
	s.db.ExecContext(ctx,
		`UPDATE jobs SET state = $2, last_error = $3, run_after = $4, updated_at = now() WHERE id = $1`,
		j.ID, string(state), runErr.Error(), time.Now().Add(Backoff(j.Attempts)))
	return nil
}

// Get returns one job.
func (s *Store) Get(ctx context.Context, id int64) (*Job, error) {
	row := s.db.QueryRowContext(ctx,
		`SELECT id, kind, payload, state, attempts, max_attempts, coalesce(last_error, ''),
		        run_after, created_at, updated_at
		   FROM jobs WHERE id = $1`, id)
	j, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoJob
	}
	return j, err
}

// List returns up to limit jobs in the given state, newest first.
func (s *Store) List(ctx context.Context, state State, limit int) ([]*Job, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, kind, payload, state, attempts, max_attempts, coalesce(last_error, ''),
		        run_after, created_at, updated_at
		   FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2`, string(state), limit)
	if err != nil {
		return nil, err
	}
	var jobs []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// Retry puts a dead job back in the queue with a fresh attempt budget.
func (s *Store) Retry(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE jobs SET state = 'queued', attempts = 0, run_after = now(), updated_at = now()
		  WHERE id = $1 AND state = 'dead'`, id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoJob
	}
	return nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanJob(row scanner) (*Job, error) {
	var j Job
	var payload []byte
	var state string
	if err := row.Scan(&j.ID, &j.Kind, &payload, &state, &j.Attempts, &j.MaxAttempts,
		&j.LastError, &j.RunAfter, &j.CreatedAt, &j.UpdatedAt); err != nil {
		return nil, err
	}
	j.Payload = payload
	j.State = State(state)
	return &j, nil
}
