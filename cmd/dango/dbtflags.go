package main

// dbt's flags for where things are: --project-dir, --profiles-dir, --profile and --target, with
// dbt's environment variables and search order, so that dango's engine runs a plain dbt project
// (one without .dango/) the way `dbt run` would run it from the same folder.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/transform"
)

// dbtPlaces are the location flags every dbt command takes.
type dbtPlaces struct {
	projectDir, profilesDir, profile string
}

func (d *dbtPlaces) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.projectDir, "project-dir", "", "the dbt project (default: the dango project's, else the working folder or the nearest parent with dbt_project.yml; env DBT_PROJECT_DIR)")
	cmd.Flags().StringVar(&d.profilesDir, "profiles-dir", "", "folder of profiles.yml (default: .dango/ in a dango project; else env DBT_PROFILES_DIR, the working folder, the dbt project, ~/.dbt)")
	cmd.Flags().StringVar(&d.profile, "profile", "", "profile to use instead of dbt_project.yml's (env DBT_PROFILE)")
}

// dbtHost is where a dbt command runs: a dango project, or a plain dbt project (Plain) for which
// a stand-in project carries the folders and, once the profile is read, the warehouse path.
type dbtHost struct {
	P     *config.Project
	Plain bool
	Opts  transform.LoadOptions
}

// resolveDBT finds the dbt project and its profile. Inside a dango project (found from -p, or
// enclosing --project-dir when that is its dbt folder) everything is the dango project's; with
// no dango project, dbt's own rules apply.
func (g *globals) resolveDBT(f selectFlags) (*dbtHost, error) {
	target := f.target
	if target == "" {
		target = os.Getenv("DBT_TARGET")
	}
	profile := f.places.profile
	if profile == "" {
		profile = os.Getenv("DBT_PROFILE")
	}
	projectDir := f.places.projectDir
	if projectDir == "" {
		projectDir = os.Getenv("DBT_PROJECT_DIR")
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	var dbtDir string
	if projectDir != "" {
		if dbtDir, err = filepath.Abs(projectDir); err != nil {
			return nil, usageErr(err)
		}
		if _, err := os.Stat(filepath.Join(dbtDir, "dbt_project.yml")); err != nil {
			return nil, usageErr(fmt.Errorf("--project-dir %s: no dbt_project.yml there", projectDir))
		}
	}
	// A dango project: the one -p points into, or the one whose dbt folder --project-dir names.
	start := g.projectDir
	if dbtDir != "" {
		start = dbtDir
	}
	if root, err := config.FindRoot(start); err == nil {
		p, err := config.LoadForReading(root, connectors.Default)
		if err == nil && (dbtDir == "" || sameDir(p.DBTDir, dbtDir)) {
			opts := transform.LoadOptions{RootDir: p.Root, Target: target, Profile: profile}
			if f.places.profilesDir != "" {
				if opts.ProfilesDir, err = filepath.Abs(f.places.profilesDir); err != nil {
					return nil, usageErr(err)
				}
			}
			return &dbtHost{P: p, Opts: opts}, nil
		}
		if err != nil && dbtDir == "" {
			return nil, usageErr(err)
		}
	} else if !errors.Is(err, config.ErrNoProject) {
		return nil, usageErr(err)
	}
	if dbtDir == "" {
		dbtDir = nearestDBTProject(start)
		if dbtDir == "" {
			return nil, usageErr(fmt.Errorf("%w, and no dbt_project.yml in %s or its parents: run dango init, or point --project-dir at a dbt project", config.ErrNoProject, start))
		}
	}
	profilesDir, err := profilesDirFor(f.places.profilesDir, cwd, dbtDir)
	if err != nil {
		return nil, usageErr(err)
	}
	p := &config.Project{Root: cwd, DBTDir: dbtDir, Name: filepath.Base(dbtDir)}
	return &dbtHost{P: p, Plain: true, Opts: transform.LoadOptions{RootDir: cwd, ProfilesDir: profilesDir, Profile: profile, Target: target, PathBase: cwd}}, nil
}

// profilesDirFor follows dbt: --profiles-dir, DBT_PROFILES_DIR, the working folder when it holds
// profiles.yml, then ~/.dbt. dango also looks in the dbt project itself before ~/.dbt, where
// dbt would stop with "profile not found".
func profilesDirFor(flag, cwd, dbtDir string) (string, error) {
	for _, d := range []string{flag, os.Getenv("DBT_PROFILES_DIR")} {
		if d == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return "", fmt.Errorf("--profiles-dir (or DBT_PROFILES_DIR) %s is not a folder", d)
		}
		return abs, nil
	}
	for _, d := range []string{cwd, dbtDir} {
		if _, err := os.Stat(filepath.Join(d, "profiles.yml")); err == nil {
			return d, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no profiles.yml in %s or %s, and no home folder for ~/.dbt: pass --profiles-dir", cwd, dbtDir)
	}
	return filepath.Join(home, ".dbt"), nil
}

// nearestDBTProject is dbt's default project dir: the folder or its nearest parent holding
// dbt_project.yml.
func nearestDBTProject(start string) string {
	dir, err := filepath.Abs(start)
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "dbt_project.yml")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
