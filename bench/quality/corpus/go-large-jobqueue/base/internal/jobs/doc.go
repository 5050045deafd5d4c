// Package jobs runs background jobs for the mailer: queued in PostgreSQL, executed by a pool
// of workers, inspected over HTTP.
package jobs
