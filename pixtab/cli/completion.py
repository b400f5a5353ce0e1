"""Tab completion: click's bash and zsh support, and our own fish script.

Completion runs ``pixtab`` with ``_PIXTAB_COMPLETE`` set; that path imports
only click and the command modules (no numpy or astropy), so it stays fast.
"""

from __future__ import annotations

_FISH_SOURCE = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m 1 "," $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments \
"(%(complete_func)s)";
"""


def register_fish() -> None:
    """Our own fish script and reply format ("type,value<TAB>help").

    click 8.4.0-8.4.1 write a fish script that fish cannot run (pallets/click#3502),
    and later versions cut descriptions at the first comma. With this class tab
    completion works and ``python -m pixtab._gen_docs`` writes the same file
    whatever the click version.
    """
    from click import shell_completion as sc

    class FishComplete(sc.FishComplete):
        source_template = _FISH_SOURCE

        def format_completion(self, item: sc.CompletionItem) -> str:
            help_ = " ".join((item.help or "").split())  # no newlines or tabs
            return f"{item.type},{item.value}\t{help_}" if help_ else f"{item.type},{item.value}"

    sc.add_completion_class(FishComplete)
