package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// maxBody caps a document read into memory.
const maxBody = 8 << 20

// ErrNotFound is returned when the catalogue has no document with the requested id.
var ErrNotFound = errors.New("document not found")

// Client fetches documents from the catalogue service.
type Client struct {
	base     string
	http     *http.Client
	attempts int
	backoff  time.Duration
}

// New returns a Client for the catalogue at base that tries each request up to three times.
func New(base string) *Client {
	return &Client{
		base:     base,
		http:     &http.Client{Timeout: 10 * time.Second},
		attempts: 3,
		backoff:  200 * time.Millisecond,
	}
}

// Document returns the body of the document with the given id, retrying transient failures
// (transport errors and 5xx answers) with a doubling pause between attempts.
func (c *Client) Document(ctx context.Context, id string) ([]byte, error) {
	var lastErr error
	pause := c.backoff
	for attempt := 1; attempt <= c.attempts; attempt++ {
		body, retry, err := c.once(ctx, id)
		if err == nil {
			return body, nil
		}
		if !retry {
			return nil, err
		}
		lastErr = err
		if attempt == c.attempts {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause *= 2
	}
	return nil, fmt.Errorf("get document %s after %d attempts: %w", id, c.attempts, lastErr)
}

// once makes one request; retry says whether a failure is worth another attempt.
func (c *Client) once(ctx context.Context, id string) ([]byte, bool, error) {
	target := c.base + "/documents/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, false, fmt.Errorf("build request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, ctx.Err() == nil, fmt.Errorf("get document %s: %w", id, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, ErrNotFound
	case resp.StatusCode >= 500:
		return nil, true, fmt.Errorf("get document %s: status %d", id, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("get document %s: status %d", id, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, true, fmt.Errorf("read document %s: %w", id, err)
	}
	if len(body) > maxBody {
		return nil, false, fmt.Errorf("document %s is larger than %d bytes", id, maxBody)
	}
	return body, false, nil
}
