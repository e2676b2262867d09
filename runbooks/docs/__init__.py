"""On-call runbooks per stack: Markdown rendered from Jinja2 templates and the stack file.

`render(stack)` gives `docs/runbooks/<stack>.md`: how to see a release, pause or abort it,
roll it back (traffic first, then each release step), restore the database by backup id,
and what each threshold and exit code means, with the stack's own names, values and
commands. The templates (`templates/`) hold the words; `runbooks.docs.render` gathers the
facts from the settings model, the error module's `ExitCode` and the backends' own
descriptions, so nothing is copied by hand. Release state (which color and version is
live, weights), which a release writes back to the stack's config, is left out: a release
never makes a runbook stale.

The rendered files are committed, the one kind of generated file this project commits:
on-call staff read them where the code is (GitHub, a checkout) without running anything,
and `runbook docs --check` (exit 1 naming the stale files; a unit test runs it) fails
whenever a stack file or a template changed and they were not rendered again.
"""
