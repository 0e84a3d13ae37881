# SPDX-License-Identifier: BSD-2-Clause
# bash completion for bpfsplit: objects, commands, options, and frontends read from
# the pinned data path (`bpfsplit frontend list -j`).
# Install: cp tools/bpfsplit-completion.bash /etc/bash_completion.d/bpfsplit

_bpfsplit_frontends() {
	local root=()
	[ -n "$1" ] && root=(--pin-root "$1")
	bpfsplit "${root[@]}" -j frontend list 2>/dev/null | tr ',' '\n' | sed -n 's/.*"frontend":"\([^"]*\)".*/\1/p'
}

_bpfsplit() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else # without the bash-completion package
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local i obj= cmd= pin_root=
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--pin-root | --netns) ((i++)); [ "${words[i - 1]}" = --pin-root ] && pin_root=${words[i]} ;;
		-*) ;;
		*)
			if [ -z "$obj" ]; then obj=${words[i]}; elif [ -z "$cmd" ]; then cmd=${words[i]}; fi
			;;
		esac
	done

	case $prev in
	--pin-root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--netns) COMPREPLY=($(compgen -W "$(ip netns list 2>/dev/null | cut -d' ' -f1)" -- "$cur")); return ;;
	--entry) COMPREPLY=($(compgen -W "xdp tc-ingress tc-egress" -- "$cur")); return ;;
	--xdp-mode) COMPREPLY=($(compgen -W "auto native generic" -- "$cur")); return ;;
	--frontend) COMPREPLY=($(compgen -W "$(_bpfsplit_frontends "$pin_root")" -- "$cur")); return ;;
	esac

	if [ -z "$obj" ]; then
		COMPREPLY=($(compgen -W "dataplane frontend backend flow stats status watch version help
			--pin-root --netns --json --pretty --verbose --help --version" -- "$cur"))
		return
	fi
	if [ -z "$cmd" ]; then
		case $obj in
		dataplane) COMPREPLY=($(compgen -W "load attach detach show set unload help" -- "$cur")) ;;
		frontend) COMPREPLY=($(compgen -W "apply list show export remove set-weights help" -- "$cur")) ;;
		backend) COMPREPLY=($(compgen -W "list drain undrain help" -- "$cur")) ;;
		flow) COMPREPLY=($(compgen -W "list gc help" -- "$cur")) ;;
		status) COMPREPLY=($(compgen -W "--window" -- "$cur")) ;;
		watch) COMPREPLY=($(compgen -W "--interval --count" -- "$cur")) ;;
		help) COMPREPLY=($(compgen -W "dataplane frontend backend flow stats status watch" -- "$cur")) ;;
		esac
		return
	fi
	case $obj/$cmd in
	dataplane/load) COMPREPLY=($(compgen -W "--max-conns --max-frontends --max-backends --max-tables --max-large-tables --max-splits --max-members" -- "$cur")) ;;
	dataplane/attach | dataplane/detach)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--entry --xdp-mode" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
		fi
		;;
	dataplane/set) COMPREPLY=($(compgen -W "--hash-key --linger-ms --udp-idle-s" -- "$cur")) ;;
	frontend/apply) [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--check" -- "$cur")) || COMPREPLY=($(compgen -f -- "$cur")) ;;
	frontend/show | frontend/export | frontend/remove | frontend/set-weights)
		COMPREPLY=($(compgen -W "$(_bpfsplit_frontends "$pin_root")" -- "$cur"))
		;;
	backend/drain | backend/undrain) COMPREPLY=($(compgen -W "--frontend" -- "$cur")) ;;
	flow/list) COMPREPLY=($(compgen -W "--frontend --backend --client --limit" -- "$cur")) ;;
	esac
}
complete -F _bpfsplit bpfsplit
