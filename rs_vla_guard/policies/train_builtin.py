"""Old command, kept working: ``python -m rs_vla_guard.policies.train_builtin`` runs
:mod:`rs_vla_guard.policies.builtin.train`."""
from .builtin.train import main

if __name__ == "__main__":
    main()
