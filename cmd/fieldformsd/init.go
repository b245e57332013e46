package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "init",
		summary: "Create the server's identity (TLS certificate) and data folder, and print the certificate fingerprint.",
		usage:   "--config DIR --data DIR [--tls-cert FILE --tls-key FILE]",
		run:     runInit,
	})
}

func runInit(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	cert := fs.String("tls-cert", "", "use this PEM `FILE` as the TLS certificate instead of a self-signed one (copied into the config folder)")
	key := fs.String("tls-key", "", "PEM `FILE` of the key of --tls-cert")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if (*cert == "") != (*key == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if *cert != "" {
		if err := server.InstallCertificate(e.configDir, *cert, *key); err != nil {
			return err
		}
	}
	opts := e.options()
	opts.Create = true
	s, err := server.Open(ctx, opts)
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "config: %s\ndata: %s\ncertificate SHA-256 fingerprint: %s\n", e.configDir, e.dataDir, s.Fingerprint())
	return nil
}
