// Command matroska is the command-line tool of Matroska for Go.
//
//	matroska demo    several in-process nodes share one Redis: GetOrLoad,
//	                 then an invalidation crossing them, printed as it happens
//
// The demo uses $REDIS_URL when it is set, else starts a private
// redis-server when one is installed, else runs in one-process mode and
// says so.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "matroska:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		usage(out)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "demo":
		return demo(out)
	case "help", "-h", "--help":
		usage(out)
		return nil
	}
	usage(out)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: matroska <command>

commands:
  demo   three in-process nodes on one Redis ($REDIS_URL, else a private
         redis-server, else one-process mode): GetOrLoad, then an
         invalidation crossing the nodes, printed as it happens`)
}
