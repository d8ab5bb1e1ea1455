// FerretDB v1 with its pure-Go SQLite backend, embedded in a tiny program: a MongoDB
// wire-protocol server for tests (MongoDB itself cannot be installed on these machines).
// `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds a binary that panics at
// start (its build/version wants a version.txt that only exists in a git checkout); the
// embeddable package skips that check.
//
//	ferretdb --listen-addr 127.0.0.1:27017 --sqlite-dir /tmp/x [--log-level info]
//
// Prints "ready mongodb://…/" on stdout once it accepts connections; SIGTERM/SIGINT stop it
// cleanly (the SQLite files are closed before exit).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("sqlite-dir", "", "existing directory for the SQLite databases (required)")
	level := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: --sqlite-dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(2)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "ferretdb: --sqlite-dir %s is not an existing directory\n", abs)
		os.Exit(2)
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb: bad --log-level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *addr},
		Logger:   logger,
		Handler:  "sqlite",
		// The URL must name a directory and end with a slash. _txlock=immediate: writers take
		// the lock when their transaction begins, so concurrent writers from several clients
		// wait (busy_timeout) instead of failing with SQLITE_BUSY when a deferred read
		// transaction cannot be upgraded to a write. SQLite's busy handler is not a fair queue:
		// with ~100 concurrent writers (a chart's api and worker pods) one of them can starve
		// past FerretDB's default 10 s and fail; 60 s turns that tail into a slow write, which
		// the clients' own deadlines bound.
		SQLiteURL: "file:" + abs + "/?_txlock=immediate&_pragma=busy_timeout(60000)",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI waits for the listener, so it is only called once Run has started.
	fmt.Println("ready", f.MongoDBURI())

	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}
