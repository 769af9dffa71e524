"""ServiceConfig: the reference's tier table, TOML + env precedence, the persisted secret."""
import os
import stat

import pytest

from mitraseti_server.config import ServiceConfig, resolve_data_dir
from mitraseti_server.errors import ConfigError


def test_default_tiers_follow_the_reference_table(tmp_path):
    tiers = ServiceConfig.load(data_dir=tmp_path, env={}).tiers
    assert list(tiers) == ["free", "researcher", "institution", "enterprise"]
    free, res, inst, ent = (tiers[t] for t in tiers)
    # Rate Limits & Quotas: monthly jobs, max file MB, concurrent, history, retention
    assert (free.files_per_month, free.max_file_mb, free.concurrent_jobs,
            free.job_history, free.retention_days) == (10, 50, 5, 10, 7)
    assert (res.files_per_month, res.max_file_mb, res.job_history,
            res.retention_days, res.price) == (500, 1024, 50, 90, "$99 USD/mo")
    assert (inst.files_per_month, inst.max_file_mb, inst.job_history,
            inst.retention_days) == (5000, 5120, 200, 365)
    assert (ent.max_file_mb, ent.job_history) == (10240, 500)
    assert not free.api_keys and res.api_keys and inst.api_keys and ent.api_keys
    assert inst.webhooks and ent.webhooks and not res.webhooks and not free.webhooks
    assert res.max_file_bytes == 1024 * 1024 * 1024


def test_toml_then_env_then_overrides(tmp_path):
    (tmp_path / "config.toml").write_text(
        '[server]\nhost = "0.0.0.0"\nport = 9000\n'
        '[executor]\nmax_workers = 3\n'
        '[tiers.free]\nfiles_per_month = 20\n')
    env = {"MITRASETI_PORT": "9100", "MITRASETI_JOB_TIMEOUT_S": "60",
           "MITRASETI_OIDC_ISSUER": "https://idp.test"}
    cfg = ServiceConfig.load(data_dir=tmp_path, env=env, max_workers=5)
    assert cfg.host == "0.0.0.0"
    assert cfg.port == 9100                  # env beats TOML
    assert cfg.max_workers == 5              # keyword override beats TOML
    assert cfg.job_timeout_s == 60.0
    assert cfg.oidc_issuer == "https://idp.test"
    assert cfg.tiers["free"].files_per_month == 20
    assert cfg.tiers["free"].max_file_mb == 50     # untouched tier fields keep defaults
    assert cfg.public_url == "http://127.0.0.1:9100"


def test_bad_settings_name_their_source(tmp_path):
    (tmp_path / "config.toml").write_text("[server]\nportt = 1\n")
    with pytest.raises(ConfigError, match=r"config\.toml.*portt"):
        ServiceConfig.load(data_dir=tmp_path, env={})
    (tmp_path / "config.toml").write_text("[tiers.free]\nmax_file_mb = 'big'\n")
    with pytest.raises(ConfigError, match=r"tiers\.free.*max_file_mb"):
        ServiceConfig.load(data_dir=tmp_path, env={})
    (tmp_path / "config.toml").unlink()
    with pytest.raises(ConfigError, match="MITRASETI_PORT"):
        ServiceConfig.load(data_dir=tmp_path, env={"MITRASETI_PORT": "eighty"})
    with pytest.raises(ConfigError, match="s3_bucket"):
        ServiceConfig.load(data_dir=tmp_path, env={"MITRASETI_STORAGE": "s3"})
    with pytest.raises(ConfigError, match="does not exist"):
        ServiceConfig.load(data_dir=tmp_path, path=tmp_path / "missing.toml", env={})


def test_secret_is_created_once_with_mode_0600(tmp_path):
    first = ServiceConfig.load(data_dir=tmp_path / "d", env={}).secret_key
    path = tmp_path / "d" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert ServiceConfig.load(data_dir=tmp_path / "d", env={}).secret_key == first
    assert ServiceConfig.load(data_dir=tmp_path / "other", env={}).secret_key != first


def test_data_dir_resolution_order(tmp_path):
    env = {"MITRASETI_DATA_DIR": str(tmp_path / "from-env")}
    assert resolve_data_dir(str(tmp_path / "arg"), env) == (tmp_path / "arg").resolve()
    assert resolve_data_dir(None, env) == (tmp_path / "from-env").resolve()
    home = os.path.expanduser("~/.mitraseti")
    assert str(resolve_data_dir(None, {})) == os.path.realpath(home)


def test_unknown_keys_and_wrong_types_name_the_key_everywhere(tmp_path):
    from traitlets.config import Config as JupyterConfig

    cases = [("[executor]\nmax_workers = 'four'\n", {}, None, r"config\.toml.*max_workers"),
             ("storage = 'ftp'\n", {}, None, r"config\.toml.*storage"),
             ("[tiers.gold]\nwebhook = true\n", {}, None, r"tiers\.gold.*webhook"),
             ("", {"MITRASETI_WEBHOOK_ALLOW_PRIVATE": "maybe"}, None,
              "MITRASETI_WEBHOOK_ALLOW_PRIVATE"),
             ("", {}, {"max_wokers": 3}, r"c\.ServiceConfig\.max_wokers"),
             ("", {}, {"port": "80"}, r"c\.ServiceConfig\.port")]
    for toml, env, jupyter, pattern in cases:
        (tmp_path / "config.toml").write_text(toml)
        section = JupyterConfig({"ServiceConfig": jupyter}) if jupyter else None
        with pytest.raises(ConfigError, match=pattern) as err:
            ServiceConfig.load(data_dir=tmp_path, env=env, jupyter=section)
        assert err.value.key, err.value


def test_jupyter_config_is_read_after_toml_and_environment(tmp_path):
    """The Jupyter extension passes Jupyter's traitlets config: ``c.ServiceConfig.<name>``
    beats config.toml and MITRASETI_* (the same validated settings as ``mitraseti serve``)."""
    from traitlets.config import Config as JupyterConfig

    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text("[executor]\nmax_workers = 3\njob_timeout_s = 10\n")
    jupyter = JupyterConfig()
    jupyter.ServiceConfig.data_dir = str(data)
    jupyter.ServiceConfig.max_workers = 4
    jupyter.ServiceConfig.jupyter_tier = "institution"
    cfg = ServiceConfig.load(env={"MITRASETI_JOB_TIMEOUT_S": "20"}, jupyter=jupyter)
    assert cfg.data_dir == data.resolve()
    assert (cfg.max_workers, cfg.job_timeout_s, cfg.jupyter_tier) == (4, 20.0, "institution")
    from traitlets.config.loader import KVArgParseConfigLoader    # jupyter lab --ServiceConfig...
    argv = KVArgParseConfigLoader(["--ServiceConfig.max_workers=5"]).load_config()
    jupyter.merge(argv)
    assert ServiceConfig.load(env={}, jupyter=jupyter).max_workers == 5
    serve_cfg = ServiceConfig.load(data_dir=data, env={})      # what `mitraseti serve` reads
    assert (serve_cfg.max_workers, serve_cfg.job_timeout_s) == (3, 10.0)
    assert serve_cfg.secret_key == cfg.secret_key


@pytest.mark.parametrize("entry", [["-m", "mitraseti_server"],
                                   ["-c", "import sys; from mitraseti.cli import main; "
                                          "sys.exit(main(sys.argv[1:]))"]])
def test_serve_refuses_a_bad_config_naming_the_key(tmp_path, entry):
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text("[executor]\nmax_wrkers = 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    out = subprocess.run([sys.executable, *entry, "serve", "--data-dir", str(tmp_path),
                          "--port", "0", "--dashboard-port", "0"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_wrkers" in lines[0] and "config.toml" in lines[0], lines
