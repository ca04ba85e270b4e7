package transform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dangohq/dango/config"
)

// A database error quoting a connection string must not land in run_results.json, and a
// DBT_ENV_SECRET_ variable read by env_var() is scrubbed from every message, as dbt does.
func TestRunResultsAndSecretEnvVarsAreRedacted(t *testing.T) {
	t.Setenv("DBT_ENV_SECRET_WAREHOUSE_PW", "s3cr3t-dbtenv-5190")
	if v, err := envVar("DBT_ENV_SECRET_WAREHOUSE_PW"); err != nil || v != "s3cr3t-dbtenv-5190" {
		t.Fatalf("env_var = %v, %v", v, err)
	}
	if got := config.Redact("error near s3cr3t-dbtenv-5190"); strings.Contains(got, "s3cr3t-dbtenv-5190") {
		t.Errorf("a DBT_ENV_SECRET_ value is not redacted: %q", got)
	}
	dir := t.TempDir()
	e := &Engine{P: &Project{Dir: dir, TargetPath: "target"}, InvocationID: "x"}
	res := []Result{{Node: &Node{UniqueID: "test.p.t", ResourceType: "test"}, Status: StatusError,
		Message: `IO Error: cannot open "postgres://loader:s3cr3t-attach-7731@db/shop"`, Started: time.Now(), Completed: time.Now()}}
	if err := e.WriteRunResults(res, time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "target", "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cr3t-attach-7731") || !strings.Contains(string(data), "[redacted]") {
		t.Errorf("run_results.json keeps the password:\n%s", data)
	}
}
