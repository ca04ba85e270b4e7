package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/service"
)

// newTokenCmd manages the HTTP API's bearer token. Rotation is a command of its own rather
// than a dango serve flag: a running server reads the token file on every request, so a
// rotation takes effect at once, without a restart.
func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the bearer token of dango serve's HTTP API (" + service.TokenFile + ")",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Replace the API token with a new random one; the old one stops working at once",
		Long: `Write a new random token to ` + service.TokenFile + ` (mode 0600). A running dango serve
accepts only the new one from its next request on; this project's CLI reads it from the file.
Give the new token to other API clients: Authorization: Bearer $(cat ` + service.TokenFile + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := config.FindRoot(g.projectDir)
			if err != nil {
				return usageErr(err)
			}
			if _, err := service.RotateToken(root); err != nil {
				return failed(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote a new API token to %s; the old one no longer works.\n", service.TokenFile)
			return nil
		},
	})
	return cmd
}
