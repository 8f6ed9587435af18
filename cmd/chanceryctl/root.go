package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage"
)

// app is one invocation: where it reads and writes, and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) (string, bool)
	started        bool // a command's RunE was reached: errors are no longer usage errors

	etcdEndpoints []string
	etcdUsername  string
	etcdPassword  string
	etcdCA        string
	etcdCert      string
	etcdKey       string
	etcdTimeout   time.Duration
	prefix        string
	cause         string // --cause: recorded with every write (storage.ChangeCause)
	command       string // the command path, e.g. "chanceryctl apply", recorded with every write
}

const rootLong = `chanceryctl writes Chancery's etcd keyspace safely, says what is wrong
before it reaches etcd, generates each Envoy's bootstrap and registers a
VM's endpoints under an etcd lease.

Every global flag can also be set as CHANCERY_<FLAG>, e.g.
CHANCERY_ETCD_ENDPOINTS or CHANCERY_ETCD_PASSWORD; a flag on the command
line wins over the environment.

Exit status: 0 on success, 1 on failure or rejection, 2 on wrong usage;
diff exits 1 when it finds differences and 2 on errors.`

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "chanceryctl",
		Short: "Operate Chancery, an Envoy xDS control plane backed by etcd",
		Long:  rootLong,
		Example: `  chanceryctl validate -f examples/
  chanceryctl apply -f examples/ --dry-run
  CHANCERY_ETCD_ENDPOINTS=https://etcd-1:2379 chanceryctl get services`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.command = cmd.CommandPath()
			if err := a.applyEnv(cmd.Root().PersistentFlags()); err != nil {
				return err
			}
			if len(a.cause) > storage.MaxCauseBytes {
				return usageErrorf("--cause of %d bytes: at most %d", len(a.cause), storage.MaxCauseBytes)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringSliceVar(&a.etcdEndpoints, "etcd-endpoints", []string{"http://127.0.0.1:2379"}, "etcd client URLs, comma-separated")
	pf.StringVar(&a.etcdUsername, "etcd-username", "", "etcd user")
	pf.StringVar(&a.etcdPassword, "etcd-password", "", "etcd password (prefer CHANCERY_ETCD_PASSWORD: flags show in ps)")
	pf.StringVar(&a.etcdCA, "etcd-ca", "", "CA bundle that signs etcd's server certificate")
	pf.StringVar(&a.etcdCert, "etcd-cert", "", "client certificate for etcd")
	pf.StringVar(&a.etcdKey, "etcd-key", "", "client key for etcd")
	pf.DurationVar(&a.etcdTimeout, "etcd-timeout", 5*time.Second, "how long one etcd request may take")
	pf.StringVar(&a.prefix, "prefix", storage.DefaultPrefix, "etcd key prefix of the keyspace")
	pf.StringVar(&a.cause, "cause", "", "why: recorded with every write, beside the objects; history shows it")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.SetHelpCommand(helpCommand(root))
	root.AddCommand(
		applyCommand(a), validateCommand(a), diffCommand(a),
		getCommand(a), deleteCommand(a), historyCommand(a), rollbackCommand(a),
		bootstrapCommand(a), endpointCommand(a), secretCommand(a), statusCommand(a), versionCommand(a),
	)
	markStarted(root, a)
	return root
}

// markStarted wraps every RunE so that run can tell an error of the
// command from one cobra found in the command line.
func markStarted(cmd *cobra.Command, a *app) {
	if inner := cmd.RunE; inner != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			a.started = true
			return inner(c, args)
		}
	}
	for _, c := range cmd.Commands() {
		markStarted(c, a)
	}
}

// applyEnv sets every global flag not given on the command line from its
// CHANCERY_* variable.
func (a *app) applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "CHANCERY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := a.env(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageErrorf("%s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

// positional wraps a cobra argument check so that a wrong count is a usage error.
func positional(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageErrorf("%v", err)
		}
		return nil
	}
}

// etcd is a connection to the keyspace.
type etcd struct {
	cli *clientv3.Client
	ks  storage.Keyspace
	a   *app
}

// dial connects to etcd and makes sure it can: a refused connection is
// reported at once, anything slower within --etcd-timeout.
func (a *app) dial() (*etcd, error) {
	e, err := a.dialLazy()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.etcdTimeout)
	defer cancel()
	if err := storage.CheckReachable(ctx, e.cli); err != nil {
		e.close()
		return nil, e.explain(err)
	}
	return e, nil
}

// dialLazy connects to etcd without waiting for it: the first request
// reports an unreachable etcd, within --etcd-timeout. It suits a process
// that waits out an etcd outage, as `endpoint register` does.
func (a *app) dialLazy() (*etcd, error) {
	if a.etcdTimeout <= 0 {
		return nil, usageErrorf("--etcd-timeout must be positive")
	}
	cli, err := storage.Dial(storage.ClientConfig{
		Endpoints: a.etcdEndpoints, Username: a.etcdUsername, Password: a.etcdPassword,
		CAFile: a.etcdCA, CertFile: a.etcdCert, KeyFile: a.etcdKey, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, explainUnreachable(err)
	}
	return &etcd{cli: cli, ks: storage.NewKeyspace(a.prefix), a: a}, nil
}

func (e *etcd) close() {
	// Close reports only that the client was already closed or that
	// in-flight requests were cancelled, neither of which matters on exit.
	_ = e.cli.Close()
}

// request returns a context bounded by --etcd-timeout.
func (e *etcd) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.a.etcdTimeout)
}

// explain turns an etcd client error into a sentence an operator can act on.
func (e *etcd) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrUnreachable):
		return explainUnreachable(err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("etcd at %s did not answer within %s (--etcd-timeout)", strings.Join(e.a.etcdEndpoints, ","), e.a.etcdTimeout)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("%w: etcd's --max-txn-ops is lower than chanceryctl's --max-txn-ops", err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%w: an object is larger than etcd's --max-request-bytes", err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return errNoSpace(err.Error())
	}
	return err
}

// errNoSpace says what an operator does about etcd's NOSPACE alarm, under
// which etcd refuses every write; what says what became of this one.
func errNoSpace(what string) error {
	return fmt.Errorf("etcd is out of space (alarm NOSPACE): %s; free space: compact, defragment every member, then `etcdctl alarm disarm`", what)
}

// explainUnreachable says what a newcomer most often has to do when
// nothing answers: start etcd or the replica that embeds it.
func explainUnreachable(err error) error {
	var ue *storage.UnreachableError
	if !errors.As(err, &ue) {
		return err
	}
	at := strings.Join(ue.Endpoints, ",")
	if ue.Refused {
		return fmt.Errorf("connection refused at %s; is `chancery serve` or etcd running? (--etcd-endpoints)", at)
	}
	return fmt.Errorf("cannot connect to etcd at %s: %s (--etcd-endpoints)", at, ue.Reason)
}

func versionCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print chanceryctl's version",
		Example: "  chanceryctl version",
		Args:    positional(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(a.stdout, version)
			return err
		},
	}
}

// helpCommand replaces cobra's own, which has no example.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  chanceryctl help apply\n  chanceryctl endpoint register --help",
		RunE: func(_ *cobra.Command, a []string) error {
			cmd, _, err := root.Find(a)
			if err != nil {
				return usageErrorf("%v", err)
			}
			return cmd.Help()
		},
	}
}
