// Command feedmerge merges several JSON event feeds into one, sorted by time.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// Event is one entry of a feed.
type Event struct {
	ID     string    `json:"id"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
	Title  string    `json:"title"`
}

func main() {
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: feedmerge [-o out.json] feed.json|https://...")
		os.Exit(2)
	}
	var all []Event
	for _, name := range flag.Args() {
		events, err := load(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "feedmerge: %s: %v\n", name, err)
			os.Exit(1)
		}
		all = append(all, events...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	all = dedupe(all)
	if err := write(*out, all); err != nil {
		fmt.Fprintf(os.Stderr, "feedmerge: %v\n", err)
		os.Exit(1)
	}
}

// load reads a feed from a file or an https URL.
func load(name string) ([]Event, error) {
	var r io.Reader
	if strings.HasPrefix(name, "https://") {
		resp, err := http.Get(name)
		defer resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %d", resp.StatusCode)
		}
		r = resp.Body
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var events []Event
	if err := json.NewDecoder(r).Decode(&events); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return events, nil
}

// dedupe drops events whose id was already seen (the first, oldest one is kept).
func dedupe(events []Event) []Event {
	seen := make(map[string]bool, len(events))
	kept := events[:0]
	for _, e := range events {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		kept = append(kept, e)
	}
	return kept
}

// write stores events as indented JSON in path, or on stdout for "-".
func write(path string, events []Event) error {
	w := io.Writer(os.Stdout)
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(events)
}
