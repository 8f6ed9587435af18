package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// secretFlags are what every `secret` subcommand takes besides its files.
type secretFlags struct {
	dryRun bool
	maxOps int
}

func secretCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Write a TLS secret (certificate and key, or CA bundle) from PEM files",
		Long: `secret reads PEM files and writes secrets/NAME, after the checks apply
runs: the secret is decoded and validated as every replica will (a chain
that does not parse, a key that does not pair with the leaf certificate and
a bundle with no certificate are refused, naming the field), and nothing
that uses it may break. Errors never show what a file holds.

An expired certificate is written, with a warning: expiry is reported
(get secrets, status, chancery_secret_expiry_timestamp_seconds), never a
rejection.`,
		Example: `  chanceryctl secret tls web-cert --cert web.pem --key web-key.pem
  chanceryctl secret ca clients-ca --ca clients-ca.pem --san spiffe://corp/web`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(secretTLSCommand(a), secretCACommand(a))
	return cmd
}

func (f *secretFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "check and print what would change, write nothing")
	cmd.Flags().IntVar(&f.maxOps, "max-txn-ops", storage.DefaultMaxTxnOps, "etcd's --max-txn-ops: the most operations one transaction may hold")
}

func secretTLSCommand(a *app) *cobra.Command {
	var sf secretFlags
	var cert, key string
	cmd := &cobra.Command{
		Use:   "tls NAME --cert FILE --key FILE",
		Short: "Write a tls_certificate secret: a certificate chain and its private key",
		Long: `tls writes secrets/NAME as {"tls_certificate": {"certificate_chain", "private_key"}}
from a PEM chain (the leaf first, then its intermediates) and the leaf's
PEM private key. Listeners name it in tls.certificates[].secret, services
in tls.client_certificate.`,
		Example: `  chanceryctl secret tls web-cert --cert web.pem --key web-key.pem
  chanceryctl secret tls web-cert --cert fullchain.pem --key privkey.pem --dry-run`,
		Args: positional(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cert == "" || key == "" {
				return usageErrorf("--cert and --key are required")
			}
			chain, err := readPEMFlag("--cert", cert)
			if err != nil {
				return err
			}
			pk, err := readPEMFlag("--key", key)
			if err != nil {
				return err
			}
			s := &model.Secret{TLSCertificate: &model.TLSCertificate{CertificateChain: chain, PrivateKey: pk}}
			return a.writeSecret(cmd.Context(), "secret tls", args[0], s, sf)
		},
	}
	cmd.Flags().StringVar(&cert, "cert", "", "PEM certificate chain, leaf first")
	cmd.Flags().StringVar(&key, "key", "", "PEM private key of the leaf certificate")
	sf.register(cmd)
	return cmd
}

func secretCACommand(a *app) *cobra.Command {
	var sf secretFlags
	var ca string
	var sans []string
	cmd := &cobra.Command{
		Use:   "ca NAME --ca FILE [--san NAME ...]",
		Short: "Write a validation_context secret: CA certificates and the names a peer must carry",
		Long: `ca writes secrets/NAME as {"validation_context": {"ca_bundle", "subject_alt_names"}}
from a PEM bundle of CA certificates. With --san, a peer's certificate must
also carry one of the names. Listeners name it in tls.client_ca (mTLS at
the edge), services in tls.ca.`,
		Example: `  chanceryctl secret ca internal-ca --ca internal-ca.pem
  chanceryctl secret ca clients-ca --ca clients.pem --san spiffe://corp/web --san web.internal`,
		Args: positional(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ca == "" {
				return usageErrorf("--ca is required")
			}
			bundle, err := readPEMFlag("--ca", ca)
			if err != nil {
				return err
			}
			s := &model.Secret{ValidationContext: &model.ValidationContext{CABundle: bundle, SubjectAltNames: sans}}
			return a.writeSecret(cmd.Context(), "secret ca", args[0], s, sf)
		},
	}
	cmd.Flags().StringVar(&ca, "ca", "", "PEM bundle of CA certificates")
	cmd.Flags().StringArrayVar(&sans, "san", nil, "a subject alternative name the peer's certificate must carry one of; repeatable")
	sf.register(cmd)
	return cmd
}

// readPEMFlag reads the file a flag names; its error names the flag and
// the file, never what the file holds.
func readPEMFlag(flag, path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", flag, path, unwrapPathErr(err))
	}
	if info.Size() > 1<<20 {
		return "", fmt.Errorf("%s %s: larger than 1 MiB, not a PEM certificate or key", flag, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", flag, path, unwrapPathErr(err))
	}
	return string(b), nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// writeSecret validates s as the replicas will, then writes it as apply
// does: checked against etcd, compare-and-swap.
func (a *app) writeSecret(ctx context.Context, source, name string, s *model.Secret, sf secretFlags) error {
	if sf.maxOps <= 0 {
		return usageErrorf("--max-txn-ops must be positive")
	}
	ref := model.Ref{Kind: model.KindSecret, Name: name}
	if err := model.ValidateName(ref); err != nil {
		return usageErrorf("%v", err)
	}
	value, err := storage.CanonicalValue(s)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	obj, err := model.Decode(ref, value)
	if err != nil {
		// Field errors name the field and never quote a PEM text.
		return fmt.Errorf("%s refused: %w; nothing written", ref, err)
	}
	if at := obj.(*model.Secret).NotAfter(); !at.After(time.Now()) {
		fmt.Fprintf(a.stderr, "warning: %s: a certificate expired at %s; it is written and served anyway\n", ref, at.UTC().Format(time.RFC3339))
	}
	doc := manifest.Document{Source: manifest.Source{File: source, Index: 1}, Ref: ref, Value: value}
	return a.applyDocuments(ctx, []manifest.Document{doc}, sf.dryRun, sf.maxOps)
}
