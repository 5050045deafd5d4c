// Command feedmerge merges several JSON event feeds into one, sorted by time.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: feedmerge [-o out.json] feed.json...")
		os.Exit(2)
	}
	_ = out
	_ = json.Marshal
}
