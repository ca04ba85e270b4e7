package main

import (
	"github.com/spf13/cobra"

	"github.com/dangohq/dango/dbtdeps"
)

// newDepsCmd is `dango deps`: dbt deps for the project's dbt folder, without dbt.
func newDepsCmd(g *globals) *cobra.Command {
	var upgrade, lock bool
	var f selectFlags // dbt's --project-dir, --profiles-dir, --profile, --target (deps reads no profile)
	cmd := &cobra.Command{
		Use:   "deps",
		Short: "Install the dbt project's packages (packages.yml / dependencies.yml) into dbt_packages, as dbt deps does",
		Long: `Install the dbt project's packages as dbt deps does: local:, git:, tarball: and hub
package: entries and the packages they depend on, pinned in package-lock.yml. When the lock
matches packages.yml, exactly what it pins is installed; --upgrade resolves again.
The hub is https://hub.getdbt.com/ unless DBT_PACKAGE_HUB_URL names another.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := g.resolveDBT(f)
			if err != nil {
				return err
			}
			in, err := dbtdeps.NewInstaller(h.P.DBTDir)
			if err != nil {
				return usageErr(err)
			}
			in.Out, in.Warn = cmd.OutOrStdout(), cmd.ErrOrStderr()
			in.Upgrade, in.LockOnly = upgrade, lock
			if err := in.Run(cmd.Context()); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&upgrade, "upgrade", false, "resolve packages again even if package-lock.yml matches packages.yml")
	cmd.Flags().BoolVar(&lock, "lock", false, "only resolve and write package-lock.yml; install nothing")
	f.places.add(cmd)
	cmd.Flags().StringVarP(&f.target, "target", "t", "", "accepted as dbt deps accepts it (deps reads no profile)")
	return cmd
}
