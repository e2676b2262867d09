"""The stack's specification, shared by the Pulumi program (`infra/`) and the release engine
(`runbooks/`): the typed settings model of `stacks/Pulumi.<stack>.yaml` (`stackspec.model`),
reading and validating those files (`stackspec.stackfile`), and the project's error tree
(`stackspec.errors`). It imports neither side, so the engine's pure core never loads the
Pulumi program, and the program never loads the engine.
"""
