package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// ErrMissing is returned for an artifact the store does not hold.
var ErrMissing = errors.New("artifact missing")

// Store keeps build artifacts on disk under root and counts downloads.
type Store struct {
	root      string
	mu        sync.Mutex
	downloads map[string]int
}

// New returns a Store rooted at root.
func New(root string) *Store {
	return &Store{root: root, downloads: make(map[string]int)}
}

// Downloads returns how often name was downloaded.
func (s *Store) Downloads(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads[name]
}

func (s *Store) path(name string) string {
	return filepath.Join(s.root, filepath.Base(name))
}

// Exists reports whether the store holds name.
func (s *Store) Exists(name string) bool {
	_, err := os.Stat(s.path(name))
	return err == nil
}

// Put stores the artifact read from r under name and returns its SHA-256.
func (s *Store) Put(name string, r io.Reader) (string, error) {
	tmp, err := os.CreateTemp(s.root, ".upload-*")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), s.path(name)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Open returns the artifact name for reading and counts the download.
func (s *Store) Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(s.root, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrMissing
	}
	if err != nil {
		return nil, err
	}
	s.downloads[name]++
	return f, nil
}

// Checksums returns the SHA-256 of every named artifact, hashing them in parallel.
func (s *Store) Checksums(names []string) (map[string]string, error) {
	sums := make(map[string]string, len(names))
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for _, name := range names {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			f, err := os.Open(s.path(name))
			if err != nil {
				errs <- err
				return
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				errs <- err
				return
			}
			sums[name] = hex.EncodeToString(h.Sum(nil))
		}(name)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return sums, nil
}
