// Command okpay is OKPay: an e-money wallet with its customer-service desk
// built in. Run "okpay help" for its subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// The tz database inside the binary (~450 KB): readers' time zones
	// (web/zone.go) and teams' hours resolve on a host without
	// /usr/share/zoneinfo, as a static binary in a bare container is.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if err != errSilent {
			fmt.Fprintln(os.Stderr, "okpay:", err)
		}
		os.Exit(exitCode(err))
	}
}
