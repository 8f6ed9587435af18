// Command chancery is the Chancery xDS control plane: it watches the etcd
// keyspace, translates it and serves it to Envoys.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `chancery: an Envoy xDS control plane backed by etcd.

Usage:
  chancery serve [flags]   serve xDS (embedded etcd unless --etcd-endpoints is given)
  chancery version         print the version

Every flag can also be set as CHANCERY_<FLAG>, e.g. CHANCERY_ETCD_ENDPOINTS.
Run 'chancery serve -h' for the flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		cfg, err := parseServeFlags(os.Args[2:], os.LookupEnv)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "chancery: %v\n", err)
			os.Exit(2)
		}
		if err := serve(cfg); err != nil {
			fmt.Fprintf(os.Stderr, "chancery: %v\n", err)
			os.Exit(1)
		}
	case "version", "--version", "-version":
		fmt.Println(version)
	case "help", "-h", "--help", "-help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "chancery: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
