package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client fetches documents from the catalogue service.
type Client struct {
	base string
	http *http.Client
}

// New returns a Client for the catalogue at base.
func New(base string) *Client {
	return &Client{base: base, http: &http.Client{Timeout: 10 * time.Second}}
}

// Document returns the body of the document with the given id.
func (c *Client) Document(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/documents/"+id, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get document %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get document %s: status %d", id, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
