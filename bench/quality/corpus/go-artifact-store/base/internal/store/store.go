package store

import (
	"errors"
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
