# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_ai_analyzer_global_optspecs
    string join \n config= v/verbose alert-file= dry-run foreground pdf= h/help V/version
end

function __fish_ai_analyzer_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_ai_analyzer_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_ai_analyzer_using_subcommand
    set -l cmd (__fish_ai_analyzer_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -l alert-file -d 'Read the alert (a raw alert or an active-response message) from this file' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -l pdf -d 'Also write the report as a PDF to this file (with or without --dry-run); the run stays in the foreground' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -l dry-run -d 'Do everything up to delivery, print the report; send nothing, keep no report, open no cooldown window (threat-intel answers are still cached)'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -l foreground -d 'Do not detach, even for an active-response message'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -s V -l version -d 'Print version'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "enrich" -d 'Investigate one IP address: scope, zone and what the lookups find'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "prompt" -d 'Print the exact prompt that would go to the LLM'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "check" -d 'Validate the config and probe every configured endpoint, one line each'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "work" -d 'Drain the spool, send due digests, retry the outbox (what the detached worker runs)'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "install" -d 'Put the binary, config, state dir, decoder and rules in place; print the ossec.conf blocks'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "uninstall" -d 'Remove what install put in place; the config and the reports stay unless --purge'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "completions" -d 'Print the shell completions for SHELL (bash, zsh, fish, elvish, powershell)'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "manpage" -d 'Print the man page (roff)'
complete -c ai-analyzer -n "__fish_ai_analyzer_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand enrich" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand enrich" -l json -d 'Print the evidence as JSON'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand enrich" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand enrich" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand prompt" -l alert-file -d 'The alert (default: stdin)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand prompt" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand prompt" -l show-mapping -d 'Also print the pseudonymisation table (placeholder and name), when the prompt is pseudonymised'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand prompt" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand prompt" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand check" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand check" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand check" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand work" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand work" -l job-on-stdin -d 'First take one job from stdin (intake\'s hand-off when the spool cannot be written)'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand work" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand work" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand install" -l wazuh-dir -d 'The Wazuh home' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand install" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand install" -l dry-run -d 'Show what would be done, change nothing'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand install" -l integration -d 'Also install the integratord hook (integrations/custom-ai-analyzer)'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand install" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand install" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand uninstall" -l wazuh-dir -d 'The Wazuh home' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand uninstall" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand uninstall" -l purge -d 'Remove the config and the state dir (reports, cache) too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand uninstall" -l dry-run -d 'Show what would be done, change nothing'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand uninstall" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand completions" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand completions" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand completions" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand manpage" -l config -d 'Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present)' -r -F
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand manpage" -s v -l verbose -d 'Log debug lines too'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "enrich" -d 'Investigate one IP address: scope, zone and what the lookups find'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "prompt" -d 'Print the exact prompt that would go to the LLM'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "check" -d 'Validate the config and probe every configured endpoint, one line each'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "work" -d 'Drain the spool, send due digests, retry the outbox (what the detached worker runs)'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "install" -d 'Put the binary, config, state dir, decoder and rules in place; print the ossec.conf blocks'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "uninstall" -d 'Remove what install put in place; the config and the reports stay unless --purge'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "completions" -d 'Print the shell completions for SHELL (bash, zsh, fish, elvish, powershell)'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "manpage" -d 'Print the man page (roff)'
complete -c ai-analyzer -n "__fish_ai_analyzer_using_subcommand help; and not __fish_seen_subcommand_from enrich prompt check work install uninstall completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
